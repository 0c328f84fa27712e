"""``atrous report``: one HTML page with the receptive field, holes, ERF and frequency view of a model."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from atrous._files import atomic_write
from atrous._validate import MAX_SEED, int_in_range, positive_int
from atrous.cli._caps import add_cap_flags, gradient_batch, memory_cap
from atrous.cli._format import axes
from atrous.cli._notes import note
from atrous.cli._report import rf_lines
from atrous.errors import ConfigError, UnsupportedOpError

if TYPE_CHECKING:
    from atrous.cli.sources import Source
    from atrous.report.data import ReportData, RunInfo

EPILOG = """examples:
  atrous report atrous:deeplabv3                     the registry model at its default input shape
  atrous report torchvision:resnet50 -o resnet50.html --samples 16
  atrous report "torchvision:resnet50?replace_stride_with_dilation=[False,True,True]" --inits 4
  atrous report atrous:wavenet --json                the analyze object plus "erf" and "frequency"
  atrous report mypackage.models:build_net --input-shape 1,1,16000 --node encoder --device cuda
  atrous report runs/gridding-dilated_cnn-seed0/best.pt   a model trained with `atrous train`
  atrous report "atrous:tcn?dilations=[2,2,2]" "atrous:tcn?dilations=[1,2,5]" -o compare.html   side by side
SOURCE: torchvision:NAME[?key=value&...][#submodule], atrous:NAME, timm:NAME, smp:ARCH, package.module:callable,
  or a checkpoint
  package.module:callable is code: the module is imported and the callable called, as with torch.hub; only
  name a module you trust (standard-library modules and non-builder callables are refused; docs/security.md)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="an HTML report: receptive field, holes, effective receptive field, frequency view",
        description="Analyse a model (as `atrous analyze`), measure its effective receptive field with gradients, "
                    "look at its dilated layers in frequency, and write one self-contained HTML page with plots "
                    "and recommendations.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", nargs="+",
                   help="the model (see below); two SOURCEs put both reports side by side on the same scales")
    p.add_argument("--input-shape", metavar="B,C,*S",
                   help="input shape (default: the registry model's own shape, else 1,3,224,224)")
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML file to write (default report.html; with "
                   "--json only when given); written atomically; an existing file is replaced only when it is an "
                   "earlier atrous report (or with --force)")
    p.add_argument("--node", metavar="NAME", help="a module name to describe instead of the output")
    p.add_argument("--samples", type=int, default=16, metavar="N", help="random inputs for the ERF (default 16)")
    p.add_argument("--inits", type=int, default=1, metavar="N",
                   help="random initialisations to average the ERF over (default 1: the model's own weights)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the model's random weights, the random inputs and initialisations (default 0)")
    p.add_argument("--device", default="cpu", help="where to measure the ERF: cpu or cuda (default cpu)")
    p.add_argument("--no-erf", action="store_true", help="skip the gradient ERF (analysis and plots only)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the analyze object plus erf)")
    p.add_argument("--force", action="store_true",
                   help="let -o replace an existing file that is not an atrous report")
    add_cap_flags(p)
    p.set_defaults(handler=run)


class _Bar:
    """A one-line progress bar on a terminal; silent elsewhere."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label, self.start = stream, label, time.monotonic()
        self.live = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.live:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.monotonic() - self.start, 1e-9)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                          f"({rate:.1f}/s)")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _shape(args: argparse.Namespace, src: Source) -> tuple[int, ...]:
    from atrous.cli.sources import parse_input_shape

    if args.input_shape is not None:
        return parse_input_shape(args.input_shape, "report")
    name = src.registry_name
    if name is not None:
        from atrous.models import model_info

        shape = (1, *model_info(name).input_shape[1:])
        channels = src.model_kwargs.get("in_channels") if src.kind == "checkpoint" else None
        return (1, int(channels), *shape[2:]) if isinstance(channels, int) else shape
    return (1, 3, 224, 224)


#: inputs per forward/backward pass of the ERF measurement (effective_rf's default batch_size)
ERF_BATCH = 16
#: sane upper bounds: a million samples already takes hours on a CPU
MAX_SAMPLES, MAX_INITS = 1_000_000, 10_000


def _check(args: argparse.Namespace) -> None:
    positive_int("report", "--samples", args.samples, MAX_SAMPLES)
    positive_int("report", "--inits", args.inits, MAX_INITS)
    int_in_range("report", "--seed", args.seed, 0, MAX_SEED)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"report: --device {args.device} asked for, but no CUDA GPU is visible")


def run(args: argparse.Namespace) -> int:
    _check(args)
    if len(args.source) > 2:
        raise ConfigError(f"report: SOURCE must be one model, or two to compare, got {len(args.source)}")
    out, replaces = _target(args)
    reports = [_report(args, text) for text in args.source]
    if out is not None:
        try:
            atomic_write(out, _page(reports))
        except OSError as e:
            raise ConfigError(f"report: --output {str(out)!r} cannot be written ({e.strerror or e}); "
                              + ("the previous file is unchanged" if replaces else "nothing was written")) from None
    if args.json:
        if len(reports) == 2:
            from atrous.report.compare import compare_dict

            print(json.dumps(compare_dict(*reports)))
        else:
            print(json.dumps(reports[0].as_dict()))
        return 0
    for data in reports:
        print(render(data.as_dict(), data.source, data.input_shape))
    if out is not None:
        print(f"report written to {out.resolve()}" + (" (replaced the previous report)" if replaces else ""))
    return 0


def _page(reports: list[ReportData]) -> str:
    from atrous.report import render_html

    if len(reports) == 1:
        return render_html(reports[0])
    from atrous.report.compare import render_compare

    return render_compare(*reports)


def _report(args: argparse.Namespace, text: str) -> ReportData:
    """Build, analyse and measure one SOURCE (the model gets the same random weights every run)."""
    import torch

    from atrous.cli.sources import build_model, parse_source
    from atrous.report import collect
    from atrous.report.collect import noted

    src = parse_source(text, "report")
    shape = _shape(args, src)
    cap = memory_cap(args, "report")
    torch.manual_seed(args.seed)
    early: list[str] = []  # warnings of the model's own code while it is built and sized
    with noted(early):
        model = build_model(src, "report", max_bytes=cap)
        batch = min(ERF_BATCH, args.samples)
        if not args.no_erf:  # fewer inputs per pass when a full batch would not fit under --max-memory
            batch = gradient_batch("report", model, shape, cap, batch)
    node = args.node
    if node is None and src.registry_name is not None:
        from atrous.models import model_info

        node = model_info(src.registry_name).rf_node
    bar = _Bar(sys.stderr, "ERF samples") if not args.json else None
    try:
        data = collect(model, shape, source=text, node=node, samples=args.samples, inits=args.inits,
                       seed=args.seed, device=args.device, erf=not args.no_erf, progress=bar, batch_size=batch,
                       run=run_info(src.checkpoint) if src.checkpoint is not None else None)
    finally:
        if bar is not None:
            bar.close()
    data.notes = [*early, *(n for n in data.notes if n not in early)]
    for line in data.notes:
        note(f"{text}: the model warned: {line}" if len(args.source) > 1 else f"the model warned: {line}")
    if data.erf is None and not args.no_erf:
        raise UnsupportedOpError(f"report: {data.erf_error}; pass --no-erf to report the analysis without the ERF")
    return data


def run_info(ckpt: dict[str, Any]) -> RunInfo:
    """What a checkpoint of `atrous train` says of its run (task, progress, metrics, model arguments)."""
    from atrous.report.data import RunInfo

    config = ckpt.get("config") or {}
    progress = ckpt.get("progress") or {}
    metrics = ckpt.get("metrics") or progress.get("metrics") or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
    model = ckpt.get("model") or {}
    return RunInfo(task=str(config.get("task", "unknown")), model=str(model.get("name", "unknown")),
                   step=progress.get("step"), epoch=progress.get("epoch"), metric=shown or None, value=None,
                   model_args=dict(model.get("kwargs", {})))


#: how an HTML report of atrous begins (a file that does not is never replaced without --force)
REPORT_HEAD = b"<title>atrous report: "


def _target(args: argparse.Namespace) -> tuple[Path | None, bool]:
    """The file to write and whether it replaces one; checked before any work is done."""
    out = Path(args.output) if args.output else (None if args.json else Path("report.html"))
    if out is None or not (out.exists() or out.is_symlink()):
        return out, False
    if not out.is_file():
        raise ConfigError(f"report: --output must be a file name, got {str(out)!r} (a folder or special file)")
    try:
        with open(out, "rb") as f:
            ours = REPORT_HEAD in f.read(4096)
    except OSError as e:
        raise ConfigError(f"report: --output {str(out)!r} cannot be read to check what it holds "
                          f"({e.strerror or e})") from None
    if not ours and not args.force:
        raise ConfigError(f"report: --output must be a new file or an earlier atrous report, got {str(out)!r}, "
                          "which holds something else; pass --force to replace it")
    return out, True


def _erf_words(e: dict[str, Any]) -> str:
    """The ERF's summary: the Gaussian where it describes the map, the one-sided lags of a causal unit, else the
    95% mass width and why the Gaussian is not quoted."""
    if e.get("gaussian_ok", True):
        return (f"sigma {axes([round(s, 1) for s in e['sigma']])}, centre {axes([round(c, 1) for c in e['center']])}, "
                f"R² {axes([round(r, 3) for r in e['r2']])}")
    lags = e.get("lags")
    if lags is not None:
        return (f"one-sided: mass-weighted lag {lags['mean']:.1f}, 50% of the mass within lag {lags['lag50']}, 95% "
                f"within lag {lags['lag95']}")
    reasons = [why for why in e.get("gaussian_degenerate", []) if why]
    why = f"degenerate fit: {reasons[0]}" if reasons else f"poor fit, R² {axes([round(r, 2) for r in e['r2']])}"
    return f"95% mass width {axes(e['width95'])}; no Gaussian quoted ({why})"


def render(d: dict[str, Any], source: str, shape: tuple[int, ...]) -> str:
    """The terminal summary of a report object."""
    lines = [f"atrous report: {source}, input {'x'.join(map(str, shape))}"]
    if "rf" in d:
        part = d["last_spatial"] if d["rf"]["global"] and "last_spatial" in d else d
        lines.append(f"node             {part.get('node', d.get('graph_node', 'output'))}")
        lines += rf_lines(part["rf"], part["support"])
        lines.append("alignment        " + ("all merges aligned" if d.get("aligned") else "NOT aligned"))
        lines.append("HDC              " + ("passes" if part["gridding"]["hdc_ok"] else "fails"))
    else:
        lines.append(f"analysis         not traced: {d.get('analysis_error')}")
    e = d.get("erf")
    if e is not None:
        lines.append(f"ERF              {_erf_words(e)} ({e['samples']} samples, unit {axes(e['unit'])} of "
                     f"{e['node']})")
        ratios = ", ".join(f"{t}: " + ("n/a" if v is None else f"{100 * v:.1f}%") for t, v in e["area_ratio"].items())
        lines.append(f"area ratio       {ratios}")
        if "erf_trf" in e:
            trf = axes([round(v, 3) for v in e["erf_trf"]])
            lines.append(f"ERF/TRF          {trf} (95% mass width over the theoretical size)")
    elif "erf_error" in d:
        lines.append(f"ERF              not measured: {d['erf_error']}")
    for f in d.get("frequency", []):
        cut = "none" if f["cutoff"] is None else f"{f['cutoff']:.4f} rad/sample"
        lines.append(f"frequency ax {f['axis']}   cut-off {cut}, gridding risk {f['gridding_risk']}")
    lines.append("recommendations:")
    lines += [f"  - {a}" for a in d.get("recommendations", [])]
    return "\n".join(lines)
