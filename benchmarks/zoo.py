"""The coverage sweep: `atrous` analysis on real models it was not written for, each cross-checked.

    python benchmarks/zoo.py [--only PATTERN] [--limit N] [--no-empirical] [--json OUT] [--update]
    python benchmarks/zoo.py --markdown [--json OUT]      # regenerate the table of docs/zoo.md from OUT

For every model of `zoo_models.all_specs()` (torchvision, timm, segmentation_models_pytorch, pytorch-tcn, the
atrous registry, hand-written functional models) the sweep records:

- the analytic verdict: ``exact``; ``bound`` (``rf.exact`` false: a sound enclosing bound); ``global`` (every
  output depends on the whole input, the local geometry kept); ``empirical`` (the analysis fell back to the
  gradient measurement); ``refused`` (UnsupportedOpError, with its message); ``error`` (any other exception:
  a bug, its traceback is kept); ``timeout`` / ``crash`` (the child process ran out of time or died);
  ``unbuilt`` / ``skipped`` (the model could not be built, or does not run on its own input: not atrous's doing);
- the analysis time, model construction excluded;
- the cross-check: the gradient support of `atrous.analysis.empirical.empirical_rf` at a small input, compared
  with the analysis at that same input (size, stride, offset, per-phase sizes, taps, global flag); for a global
  output without spatial axes (a classifier) the last spatial map is compared, as `atrous analyze --empirical`
  does. The result is ``agree``, ``DISAGREE`` (with the fields that differ) or ``not checked (why)``.

Each model runs in a child process under a memory cap and time limits; a hang or a crash is recorded and the
sweep goes on with a fresh child. Results are written after every model, so an interrupted sweep keeps what
it measured. Run it alone on one thread: ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import select
import signal
import subprocess
import sys
import time
import traceback
from statistics import median
from typing import Any

from _machine import cpu_model, git_commit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_JSON = os.path.join(HERE, "results", "zoo.json")
DOC = os.path.join(ROOT, "docs", "zoo.md")
TABLE_START, TABLE_END = "<!-- zoo:table:start -->", "<!-- zoo:table:end -->"
SUMMARY_START, SUMMARY_END = "<!-- zoo:summary:start -->", "<!-- zoo:summary:end -->"
REASONS_START, REASONS_END = "<!-- zoo:reasons:start -->", "<!-- zoo:reasons:end -->"
ANALYSED = ("exact", "bound", "global")
VERDICTS = ("exact", "bound", "global", "empirical", "refused", "error", "timeout", "crash", "unbuilt", "skipped")


class _Timeout(BaseException):
    """The soft time limit of a stage (SIGALRM in the child)."""


# ---------------------------------------------------------------------------------------------------------
# One model (runs in the child; tests call it in-process)


def _analyze_fn() -> Any:
    """``atrous.analysis.analyze`` where the package exports it, else the module function of today's tracer."""
    import atrous.analysis

    fn = getattr(atrous.analysis, "analyze", None)
    if callable(fn):
        return fn
    from atrous.analysis.analyze import analyze

    return analyze


def _limit(seconds: float | None) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001) if seconds else 0.0)


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _rf_brief(rf: dict[str, Any], support: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {k: rf.get(k) for k in ("size", "stride", "offset", "global") if k in rf}
    for k in ("exact", "stride_exact", "phase_sizes"):
        if k in rf:
            out[k] = rf[k]
    if support is not None:
        out["taps"], out["holes"] = support.get("taps"), support.get("holes")
    return out


def _structure(out: Any) -> str:
    """A short description of a model's output: ``tensor[1,4,32,32]``, ``list[3]``, ``dict[out,aux]``."""
    import torch

    if isinstance(out, torch.Tensor):
        return "tensor[" + ",".join(map(str, out.shape)) + "]"
    if isinstance(out, dict):
        return "dict[" + ",".join(map(str, out)) + "]"
    if isinstance(out, (list, tuple)):
        return f"{type(out).__name__}[{len(out)}]"
    return type(out).__name__


def output_note(record: dict[str, Any]) -> str | None:
    """A note where the model returns several outputs and the analysis did not say which one it describes."""
    outputs = record.get("outputs", "")
    if not outputs.startswith(("list", "tuple", "dict")) or "output" in record or record.get("verdict") not in ANALYSED:
        return None
    inside = outputs[outputs.index("[") + 1: -1]
    count = int(inside) if inside.isdigit() else len(inside.split(","))
    return f"{outputs}: analysed one output without saying which" if count > 1 else None


def _first_tensor(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)) and out:
        return _first_tensor(out[0])
    return None


def _run_forward(model: Any, shape: tuple[int, ...]) -> Any:
    import torch

    with torch.no_grad():
        return model(torch.zeros(shape))


def _verdict(summary: dict[str, Any]) -> str:
    rf = summary["rf"]
    if summary.get("method") == "empirical":
        return "empirical"
    if rf.get("exact") is False:
        return "bound"
    return "global" if rf.get("global") else "exact"


def _one_line(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".strip()
    return text.splitlines()[0][:400] if text else type(e).__name__


def _module_for(summary: dict[str, Any], analysis: Any, model: Any) -> str | None:
    """The module name whose output is the summary's last spatial map (empirical_rf measures modules)."""
    traced = getattr(analysis, "traced", None)
    last = summary.get("last_spatial", {}).get("node")
    if traced is None or last is None:
        return None
    graph = getattr(traced, "graph", None)
    index = graph.index(last) if graph is not None and last in getattr(graph, "_names", ()) else \
        getattr(traced, "aliases", {}).get(last)
    names = dict(model.named_modules())
    if index is None:
        return last if last in names else None
    hits = [name for name, i in getattr(traced, "modules", {}).items() if i == index and name in names and name]
    # the module that first produced the map (in the order modules finished): a later module that passes the
    # same node on (AlexNet's adaptive pooling of a 1 x 1 map to 6 x 6) has input-size dependent geometry
    return hits[0] if hits else None


def compare(analytic: dict[str, Any], measured: dict[str, Any]) -> list[str]:
    """Fields of the ``rf``/``support`` objects on which the analysis and the measurement differ."""
    a, m = analytic["rf"], measured["rf"]
    diffs = []
    if a["size"] != m["size"]:
        diffs.append(f"size {a['size']} vs {m['size']}")
    if a.get("stride_exact", a["stride"]) != m.get("stride_exact", m["stride"]):
        diffs.append(f"stride {a.get('stride_exact', a['stride'])} vs {m.get('stride_exact', m['stride'])}")
    if a["offset"] != m["offset"]:
        diffs.append(f"offset {a['offset']} vs {m['offset']}")
    if "phase_sizes" in a and "phase_sizes" in m and a["phase_sizes"] != m["phase_sizes"]:
        diffs.append(f"phase sizes {a['phase_sizes']} vs {m['phase_sizes']}")
    if analytic["support"]["taps"] != measured["support"]["taps"]:
        diffs.append(f"taps {analytic['support']['taps']} vs {measured['support']['taps']}")
    if bool(a.get("global")) != bool(m.get("global")):
        diffs.append(f"global {bool(a.get('global'))} vs {bool(m.get('global'))}")
    return diffs


#: bytes one gradient pass of the cross-check may keep: a quarter of the child's address-space cap (set by
#: ``worker``), leaving room for the model, its float64 copy and the allocator
MEASURE_MEMORY: int | None = None


def _measure(model: Any, shape: tuple[int, ...], node: str | None) -> tuple[dict[str, Any], str]:
    """``empirical_rf`` with collapsed channels where the model allows it, else at full width; every pass within
    ``MEASURE_MEMORY``."""
    from atrous.analysis.empirical import empirical_rf
    from atrous.errors import UnsupportedOpError

    try:
        return empirical_rf(model, shape, node=node, collapse_channels=True,
                            max_memory=MEASURE_MEMORY).as_dict(), "collapsed channels"
    except UnsupportedOpError as e:
        if "collapse" not in str(e):
            raise
    return empirical_rf(model, shape, node=node, max_memory=MEASURE_MEMORY).as_dict(), "full width"


def _candidates(spec: Any, default: tuple[int, ...]) -> list[tuple[int, ...]]:
    first = spec.check_shape or (*default[:2], *[64] * (len(default) - 2))
    return list(dict.fromkeys([tuple(first), tuple(default)]))


def probe(shapes: list[tuple[int, ...]], model: Any) -> tuple[list[tuple[int, ...]], Any, str | None]:
    """The first of ``shapes`` the model runs on, with the shapes after it, its output there, or the error."""
    error = None
    for i, shape in enumerate(shapes):
        try:
            return shapes[i:], _run_forward(model, shape), None
        except _Timeout:
            raise
        except Exception as e:
            error = _one_line(e)
    return [], None, error


def cross_check(model: Any, shapes: list[tuple[int, ...]], out: Any, analyze: Any) -> dict[str, Any]:
    """Compare the analysis with the gradient support at the first of ``shapes`` the analysis takes.

    The model runs on ``shapes[0]`` and gives ``out`` there.
    """
    check: dict[str, Any] = {}
    failures = []
    sized: list[str] = []  # inputs whose geometry depends on the size: try the next candidate
    for i, shape in enumerate(shapes):
        check["shape"] = list(shape)
        try:
            if i:
                out = _run_forward(model, shape)
            analysis = analyze(model, shape)
        except _Timeout:
            raise
        except Exception as e:
            failures.append(_one_line(e))
            continue
        if analysis.summary.get("size_dependent") and i + 1 < len(shapes):
            sized.append("x".join(map(str, shape)))
            continue
        break
    else:
        return {**check, "result": f"not checked (at the cross-check input {check['shape']}: {failures[-1][:200]})"}
    if failures:
        check["smaller_input_failed"] = failures[0]
    if sized:
        check["size_dependent_at"] = sized
    summary = analysis.summary
    if summary.get("size_dependent"):
        return {**check, "result": "not checked (the geometry depends on the input size, which the measurement "
                                   f"grows: {summary['size_dependent'][0]})"}
    tensor = _first_tensor(out)
    spatial = tensor is not None and tensor.dim() == len(shape)
    if spatial:
        node, reference = None, summary
    elif summary["rf"].get("global") and "last_spatial" in summary:
        if summary["last_spatial"].get("layout", "standard") != "standard":
            return {**check, "result": "not checked (the last spatial map is not laid out batch, channels, "
                                       "*spatial, as the measurement reads a module's output)"}
        node = _module_for(summary, analysis, model)
        if node is None:
            return {**check, "result": "not checked (the last spatial map is not the output of a module)"}
        reference = summary["last_spatial"]
    else:
        return {**check, "result": "not checked (the output has no spatial axes and no last spatial map)"}
    check["node"] = node or "output"
    t0 = time.perf_counter()
    try:
        measured, how = _measure(model, shape, node)
    except _Timeout:
        raise
    except Exception as e:
        check["seconds"] = round(time.perf_counter() - t0, 2)
        return {**check, "result": f"not checked (measurement failed: {_one_line(e)})"}
    check["seconds"] = round(time.perf_counter() - t0, 2)
    check["how"] = how
    if all(j == 0 for j in measured["rf"]["stride"]) and not all(j == 0 for j in reference["rf"]["stride"]):
        # the module's output has no spatial axes where the analysis has a map (tokens, B x N x C): the
        # measurement summed it, which is not comparable
        return {**check, "result": "not checked (the measured module's output is not laid out batch, channels, "
                                   "*spatial: the measurement summed it)"}
    check["analytic"] = _rf_brief(reference["rf"], reference["support"])
    check["measured"] = _rf_brief(measured["rf"], measured["support"])
    if reference["rf"].get("exact", True) is False:
        # a labelled bound must enclose what is measured: no axis wider, no more inputs read
        a, m = reference["rf"], measured["rf"]
        diffs = [f"measured size {m['size']} exceeds the bound {a['size']}"] if any(
            ms > bs for ms, bs in zip(m["size"], a["size"])) else []
        if measured["support"]["taps"] > reference["support"]["taps"]:
            diffs.append(f"measured taps {measured['support']['taps']} exceed the bound's "
                         f"{reference['support']['taps']}")
        check["diffs"] = diffs
        check["result"] = "DISAGREE" if diffs else "agree (encloses)"
        return check
    diffs = compare(reference, measured)
    check["diffs"] = diffs
    check["result"] = "DISAGREE" if diffs else "agree"
    return check


def run_one(spec: Any, empirical: bool = True, emit: Any = None, limits: dict[str, float] | None = None) -> \
        dict[str, Any]:
    """Build, analyse and cross-check one model; ``emit(record)`` is called after each stage."""
    import torch

    from atrous.errors import UnsupportedOpError

    limits = {"build": 0, "analysis": 0, "check": 0, **(limits or {})}
    emit = emit or (lambda r: None)
    record: dict[str, Any] = {"name": spec.name, "source": spec.source, "family": spec.family}
    analyze = _analyze_fn()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    try:
        _limit(limits["build"])
        model = spec.build().eval()
        shape = spec.input_shape
        if shape is None:
            cfg = getattr(model, "pretrained_cfg", None) or {}
            shape = (1, *cfg.get("input_size", (3, 224, 224)))
        record["input_shape"] = list(shape)
    except _Timeout:
        record.update(verdict="unbuilt", reason="building the model ran out of time")
        return record
    except Exception as e:
        record.update(verdict="unbuilt", reason=_one_line(e))
        return record
    finally:
        _limit(0)
    record["build_s"] = round(time.perf_counter() - t0, 3)
    record["params"] = sum(p.numel() for p in model.parameters())
    emit(record)
    try:
        _limit(limits["analysis"])
        times = []
        summary = None
        while not times or (sum(times) < 0.5 and len(times) < 3):
            t0 = time.perf_counter()
            summary = analyze(model, shape).summary
            times.append(time.perf_counter() - t0)
        assert summary is not None
        record["analysis_s"] = round(median(times), 4)
        record["verdict"] = _verdict(summary)
        record["rf"] = _rf_brief(summary["rf"], summary.get("support"))
        if "last_spatial" in summary:
            last = summary["last_spatial"]
            record["last_spatial"] = {"node": last.get("node"), **_rf_brief(last["rf"], last.get("support"))}
        for key in ("method", "output"):
            if key in summary:
                record[key] = summary[key]
        record["notes"] = list(summary.get("notes", []))
    except _Timeout:
        record.update(verdict="timeout", reason=f"analysis took over {limits['analysis']:.0f} s")
    except UnsupportedOpError as e:
        record["analysis_s"] = round(time.perf_counter() - t0, 4)
        record.update(verdict="refused", reason=str(e))
    except Exception as e:
        record["analysis_s"] = round(time.perf_counter() - t0, 4)
        record.update(verdict="error", reason=_one_line(e), traceback=traceback.format_exc(limit=-8))
    finally:
        _limit(0)
    emit(record)
    runs: list[tuple[int, ...]] = []
    out = None
    try:
        _limit(limits["analysis"])
        runs, out, failed = probe(_candidates(spec, tuple(shape)), model)
        record["outputs"] = _structure(out) if runs else f"fails: {failed}"
        if not runs and record["verdict"] == "error":
            record.update(verdict="skipped", reason=f"the model fails on its own input: {failed}")
    except _Timeout:
        record["outputs"] = "not run (timeout)"
    finally:
        _limit(0)
    note = output_note(record)
    if note:
        record["output_note"] = note
    emit(record)
    if not empirical:
        record["check"] = {"result": "not checked (--no-empirical)"}
    elif record["verdict"] not in (*ANALYSED, "empirical"):
        record["check"] = {"result": f"not checked ({record['verdict']})"}
    elif not runs:
        record["check"] = {"result": f"not checked (the model does not run: {record['outputs']})"}
    else:
        try:
            _limit(limits["check"])
            record["check"] = cross_check(model, runs, out, analyze)
        except _Timeout:
            record["check"] = {"result": f"not checked (timeout after {limits['check']:.0f} s)"}
        finally:
            _limit(0)
    emit(record)
    return record


# ---------------------------------------------------------------------------------------------------------
# The child process


def _specs_by_name(pattern: str | None = None) -> dict[str, Any]:
    """The sweep's models by name; with a pattern whose prefix names a source, only that source is listed."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import zoo_models

    prefix = (pattern or "").split("/", 1)[0]
    prefixes = (prefix,) if "/" in (pattern or "") and prefix in zoo_models.SOURCES else None
    return {s.name: s for s in zoo_models.all_specs(prefixes)}


def worker(memory_gb: float) -> int:
    """Read one task per line on stdin, answer JSON lines on the original stdout (model prints go to stderr)."""
    import resource
    import warnings

    global MEASURE_MEMORY
    if memory_gb > 0:
        cap = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        MEASURE_MEMORY = cap // 4
    warnings.filterwarnings("ignore")
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    signal.signal(signal.SIGALRM, _on_alarm)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    specs: dict[str, Any] = {}
    warm = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.ReLU())
    _analyze_fn()(warm, (1, 1, 16, 16))  # first-call imports are not any model's analysis time
    proto.write(json.dumps({"event": "ready"}) + "\n")
    for line in sys.stdin:
        task = json.loads(line)
        if task["name"] not in specs:
            specs.update(_specs_by_name(task["name"]))
        spec = specs[task["name"]]

        def emit(record: dict[str, Any]) -> None:
            proto.write(json.dumps({"event": "partial", "record": record}) + "\n")

        record = run_one(spec, task["empirical"], emit, task["limits"])
        proto.write(json.dumps({"event": "done", "record": record}) + "\n")
        del record
        import gc

        gc.collect()
    return 0


class Child:
    """The child process that runs models one after another; restarted after a timeout or a crash."""

    def __init__(self, memory_gb: float, log: Any) -> None:
        self.memory_gb, self.log = memory_gb, log
        self.proc: subprocess.Popen[str] | None = None
        self.buffer = b""

    def start(self) -> None:
        self.buffer = b""
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                                      "--memory-gb", str(self.memory_gb)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
                                     start_new_session=True)
        if self.read(300.0) is None:
            raise RuntimeError("zoo: the child process did not start; see the worker log")

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line of the child, None after ``timeout`` seconds, ``{"event": "eof"}`` if it died."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return {"event": "eof"}
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return dict(json.loads(line))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def run(self, spec: Any, empirical: bool, limits: dict[str, float]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"name": spec.name, "empirical": empirical, "limits": limits}) + "\n")
        self.proc.stdin.flush()
        record: dict[str, Any] = {"name": spec.name, "source": spec.source, "family": spec.family}
        deadline = time.monotonic() + sum(limits.values()) + 60
        while True:
            msg = self.read(deadline - time.monotonic())
            if msg is None or msg["event"] == "eof":
                code = self.proc.poll()
                self.stop()
                why = "hard time limit" if msg is None else f"child exited with {code}"
                if "verdict" not in record:
                    record.update(verdict="timeout" if msg is None else "crash", reason=why)
                else:
                    record["check"] = {"result": f"not checked ({why})"}
                return record
            record = msg["record"]
            if msg["event"] == "done":
                return record


# ---------------------------------------------------------------------------------------------------------
# Sweep, summary, markdown


def environment() -> dict[str, Any]:
    import segmentation_models_pytorch
    import timm
    import torch
    import torchvision

    commit, cpu = git_commit(), cpu_model()
    try:
        from importlib.metadata import version

        tcn = version("pytorch-tcn")
    except Exception:
        tcn = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "smp": segmentation_models_pytorch.__version__, "pytorch_tcn": tcn,
            "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads(), "cpu": cpu,
            "cores": os.cpu_count(), "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M")}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {v: sum(r.get("verdict") == v for r in records) for v in VERDICTS}
    analysed = sum(counts[v] for v in ANALYSED)
    times = sorted(r["analysis_s"] for r in records if r.get("verdict") in ANALYSED and "analysis_s" in r)
    checks = [r.get("check", {}).get("result", "") for r in records]
    resnet = next((r.get("analysis_s") for r in records if r["name"] == "tv/resnet50"), None)

    def pct(q: float) -> float | None:
        return round(times[min(len(times) - 1, int(q * len(times)))], 4) if times else None

    return {"models": len(records), "verdicts": counts,
            "analysed_pct": round(100 * analysed / len(records), 1) if records else 0.0,
            "agree": sum(c.startswith("agree") for c in checks), "disagree": checks.count("DISAGREE"),
            "not_checked": sum(c.startswith("not checked") for c in checks),
            "tracebacks": counts["error"] + counts["crash"],
            "silent_output_choice": sum(output_note(r) is not None for r in records),
            "analysis_s_median": round(median(times), 4) if times else None, "analysis_s_p90": pct(0.9),
            "resnet50_s": resnet}


def summary_lines(s: dict[str, Any]) -> list[str]:
    v = s["verdicts"]
    return [
        f"{s['models']} models: " + ", ".join(f"{k} {v[k]}" for k in VERDICTS
                                              if v[k] or k in (*ANALYSED, "refused", "error")),
        f"analysed (exact + bound + global): {s['analysed_pct']}%",
        f"cross-check: {s['agree']} agree, {s['disagree']} DISAGREE, {s['not_checked']} not checked",
        f"tracebacks (error + crash): {s['tracebacks']}; several outputs, one analysed silently: "
        f"{s['silent_output_choice']}",
        f"analysis time (analysed models, construction excluded): median {s['analysis_s_median']} s, "
        f"p90 {s['analysis_s_p90']} s; tv/resnet50 {s['resnet50_s']} s",
    ]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _geometry(r: dict[str, Any]) -> str:
    rf = r.get("last_spatial") if r.get("verdict") == "global" and "last_spatial" in r else r.get("rf")
    if not rf or not rf.get("size"):
        return ""
    size = "×".join(map(str, rf["size"]))
    stride = "×".join(map(str, rf.get("stride_exact") or rf.get("stride") or []))
    where = " (last map)" if rf is r.get("last_spatial") else ""
    return f"{size} / {stride}{where}"


def _check_cell(r: dict[str, Any]) -> str:
    c = r.get("check", {})
    result = c.get("result", "")
    if result == "DISAGREE":
        return "**DISAGREE**: " + "; ".join(c.get("diffs", []))
    if result == "agree":
        return f"agree ({c.get('node', 'output')}, {c.get('seconds', '?')} s)"
    return result


def reason_key(record: dict[str, Any]) -> str:
    """What a refusal or an error is about, without the node name: ``function split``, ``fx trace (TraceError)``."""
    import re

    reason = record.get("reason", "")
    if record.get("verdict") == "error":
        return reason.split(":", 1)[0] + " (traceback)"
    m = re.match(r"analyze: (.+?) at node '[^']*' cannot be mapped exactly: (.*)", reason)
    if m:
        op, why = m.groups()
        why = re.sub(r"\[[\d, ]+\]", "[..]", why.split(";")[0])
        why = re.sub(r"\b\d+(/\d+)?\b", "N", why)
        return f"{op}: {why[:90]}"
    m = re.match(r"analyze: torch.fx could not trace \S+ \((\w+): ([^.]*)", reason)
    if m:
        return f"torch.fx could not trace: {m.group(1)}: {m.group(2)[:70]}"
    return reason[:100]


def reasons_table(records: list[dict[str, Any]]) -> str:
    """Distinct refusal and error reasons with their counts and models, most frequent first."""
    groups: dict[str, list[str]] = {}
    for r in records:
        if r.get("verdict") in ("refused", "error", "crash", "timeout", "unbuilt", "skipped"):
            groups.setdefault(f"{r['verdict']}: {reason_key(r)}", []).append(r["name"])
    rows = ["| reason | models | which |", "|---|---|---|"]
    for key, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append(f"| {_cell(key)} | {len(names)} | {_cell(', '.join(names))} |")
    return "\n".join(rows)


def markdown_table(records: list[dict[str, Any]]) -> str:
    rows = ["| model | source / family | input | verdict | RF / stride | cross-check | analysis s | note |",
            "|---|---|---|---|---|---|---|---|"]
    for r in records:
        note = r.get("reason", "") if r.get("verdict") not in ANALYSED else output_note(r) or ""
        if len(note) > 220:
            note = note[:217] + "..."
        shape = "×".join(map(str, r.get("input_shape", [])))
        verdict = r.get("verdict", "?")
        rows.append("| " + " | ".join(_cell(x) for x in (
            r["name"], f"{r['source']} / {r['family']}", shape, f"**{verdict}**" if verdict in ("error", "crash")
            else verdict, _geometry(r), _check_cell(r), r.get("analysis_s", ""), note)) + " |")
    return "\n".join(rows)


def write_markdown(data: dict[str, Any], path: str = DOC) -> None:
    with open(path) as f:
        text = f.read()
    env = data["env"]
    commits: dict[str, int] = {}
    for r in data["records"]:
        commits[r.get("commit", env["commit"])] = commits.get(r.get("commit", env["commit"]), 0) + 1
    by_commit = "" if len(commits) < 2 else " Records by the commit that produced them: " + ", ".join(
        f"`{c}` {n}" for c, n in commits.items()) + " (a later run re-ran some models with `--update`)."
    summary = "\n".join([
        f"Produced at commit `{env['commit']}` on {env['date']} ({env['cpu']}, {env['threads']} thread; torch "
        f"{env['torch']}, torchvision {env['torchvision']}, timm {env['timm']}, smp {env['smp']}, pytorch-tcn "
        f"{env['pytorch_tcn']}); cross-check {'on' if data.get('empirical') else 'off'}; the sweep took "
        f"{data.get('sweep_s', '?')} s of wall time for the models of its last run.{by_commit}",
        "", "```", *summary_lines(summarize(data["records"])), "```"])
    for start, end, body in ((SUMMARY_START, SUMMARY_END, summary),
                             (REASONS_START, REASONS_END, reasons_table(data["records"])),
                             (TABLE_START, TABLE_END, markdown_table(data["records"]))):
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    with open(path, "w") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="PATTERN",
                        help="models whose name matches (fnmatch, or a substring; several separated by commas)")
    parser.add_argument("--limit", type=int, metavar="N", help="the first N models (after --only)")
    parser.add_argument("--json", metavar="OUT", default=DEFAULT_JSON, help="raw per-model records (%(default)s)")
    parser.add_argument("--update", action="store_true",
                        help="keep OUT's records of the models not run now (merge by name)")
    parser.add_argument("--markdown", action="store_true", help="regenerate docs/zoo.md from OUT and exit")
    parser.add_argument("--no-empirical", action="store_true", help="analytic pass only (no cross-check)")
    parser.add_argument("--list", action="store_true", help="print the model names and exit")
    parser.add_argument("--build-timeout", type=float, default=180.0)
    parser.add_argument("--analysis-timeout", type=float, default=120.0)
    parser.add_argument("--check-timeout", type=float, default=90.0, help="per model (default %(default)s s)")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap of the child")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.memory_gb)
    if args.markdown:
        with open(args.json) as f:
            write_markdown(json.load(f))
        print(f"wrote {os.path.relpath(DOC)}")
        return 0
    patterns = [p if any(c in p for c in "*?[") else f"*{p}*" for p in (args.only or "").split(",") if p]
    by_name = _specs_by_name(patterns[0] if len(patterns) == 1 else None)
    specs = list(by_name.values())
    if patterns:
        specs = [s for s in specs if any(fnmatch.fnmatch(s.name, p) for p in patterns)]
    specs = specs[: args.limit] if args.limit else specs
    if args.list:
        print("\n".join(s.name for s in specs))
        return 0
    old: dict[str, Any] = {}
    if args.update and os.path.exists(args.json):
        with open(args.json) as f:
            previous = json.load(f)
        old = {r["name"]: {"commit": previous["env"]["commit"], **r} for r in previous["records"]}
    order = list(by_name) if not old else list(_specs_by_name())
    limits = {"build": args.build_timeout, "analysis": args.analysis_timeout,
              "check": 0.0 if args.no_empirical else args.check_timeout}
    data = {"env": environment(), "empirical": not args.no_empirical, "limits": limits, "records": []}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "zoo_worker.log"), "a")
    child = Child(args.memory_gb, log)
    start = time.perf_counter()
    done: dict[str, Any] = {}
    try:
        for i, spec in enumerate(specs, 1):
            t0 = time.perf_counter()
            record = child.run(spec, not args.no_empirical, limits)
            record["wall_s"] = round(time.perf_counter() - t0, 2)
            record["commit"] = data["env"]["commit"]
            done[spec.name] = record
            check = record.get("check", {}).get("result", "")
            print(f"[{i}/{len(specs)}] {spec.name}: {record.get('verdict')} "
                  f"{record.get('analysis_s', '')}s  {check}  {record.get('reason', '')[:120]}", flush=True)
            merged = {**old, **done}
            data["records"] = [merged[n] for n in order if n in merged]
            data["sweep_s"] = round(time.perf_counter() - start, 1)
            with open(args.json, "w") as f:
                json.dump(data, f, indent=1)
    finally:
        child.stop()
        log.close()
    print("\n".join(summary_lines(summarize(data["records"]))))
    print(f"sweep wall time {data.get('sweep_s')} s for {len(specs)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
