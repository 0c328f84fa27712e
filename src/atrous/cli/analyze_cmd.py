"""``atrous analyze``: receptive field, holes, alignment and gridding of every node of a real model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from atrous.cli._caps import add_cap_flags, check_gradient_memory, memory_cap
from atrous.cli._format import axes, jumps, percent, phase_line, table
from atrous.cli._notes import grouped
from atrous.cli._report import rf_lines, summary_lines
from atrous.errors import ConfigError, UnsupportedOpError

EPILOG = """examples:
  atrous analyze torchvision:resnet50
  atrous analyze "torchvision:resnet50?replace_stride_with_dilation=[False,True,True]" --summary-only
  atrous analyze torchvision:deeplabv3_resnet50#backbone --input-shape 1,3,513,513 --node layer4
  atrous analyze torchvision:vgg16 --node features.30 --json
  atrous analyze timm:resnet18 --summary-only
  atrous analyze "smp:DeepLabV3Plus?encoder_name=resnet18" --input-shape 1,3,256,256 --summary-only
  atrous analyze mypackage.models:build_net --input-shape 1,1,16000 --empirical
SOURCE: torchvision:NAME[?key=value&...][#submodule], atrous:NAME, timm:NAME, smp:ARCH, or package.module:callable
  package.module:callable is code: the module is imported and the callable called, as with torch.hub; only
  name a module you trust (standard-library modules and non-builder callables are refused; docs/security.md)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "analyze", help="receptive field of every node of a PyTorch model",
        description="Trace a model at its input shape (one run on a meta tensor) and report, per node and for the "
                    "output, the receptive field "
                    "(size, stride, centre), the exact support with holes, branch alignment and gridding.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="the model to analyse (see below)")
    p.add_argument("--input-shape", default="1,3,224,224", metavar="B,C,*S",
                   help="input shape (default 1,3,224,224)")
    p.add_argument("--node", metavar="NAME",
                   help="a node name (from the table) or module name to analyse instead of the output")
    p.add_argument("--output", metavar="NAME|INDEX",
                   help="for a model that returns a list, tuple or dict: which output to analyse (default: the "
                        "first, with every output's field listed)")
    p.add_argument("--empirical", action="store_true",
                   help="also measure the receptive field with gradients (and fall back to it when tracing fails)")
    p.add_argument("--summary-only", action="store_true", help="skip the per-node table")
    p.add_argument("--json", action="store_true", help="print one JSON object (its keys: docs/cli.md)")
    add_cap_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from atrous.cli.sources import load_model, parse_input_shape

    shape = parse_input_shape(args.input_shape)
    cap = memory_cap(args, "analyze")
    model = load_model(args.source, max_bytes=cap)
    if args.empirical:
        check_gradient_memory("analyze", model, shape, cap)
    try:
        from atrous.analysis.analyze import analyze

        summary = analyze(model, shape, node=args.node, output=args.output).summary
    except UnsupportedOpError as e:
        if not args.empirical:
            check_gradient_memory("analyze", model, shape, cap)
        summary = _empirical_only(model, shape, args.node, str(e), quiet=args.json, cap=cap)
    else:
        if args.empirical and summary.get("size_dependent"):
            summary["empirical"] = {"node": args.node or "output", "matches": None,
                                    "not_run": "the field depends on the input size ("
                                               f"{summary['size_dependent'][0]}), and the measurement grows the "
                                               "input, which changes it; the analysis above is exact at this "
                                               "input size"}
        elif args.empirical:
            summary["empirical"] = _empirical(model, shape, args.node, summary, quiet=args.json, cap=cap)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(render(summary, args.source, args.summary_only))
    return 0


def _empirical(model: Any, shape: tuple[int, ...], node: str | None, summary: dict[str, Any],
               quiet: bool = False, cap: int | None = None) -> dict[str, Any]:
    from atrous.analysis.empirical import empirical_rf
    from atrous.cli._progress import StatusLine

    target = summary.get("last_spatial", {}).get("node") if summary["rf"]["global"] and node is None else node
    if target is not None and target not in dict(model.named_modules()):
        raise ConfigError(f"analyze: --empirical measures module outputs, and {target!r} is not a module name; "
                          "give --node a module name")
    with StatusLine("atrous: gradient measurement", enabled=not quiet) as line:
        measured = empirical_rf(model, shape, node=target, progress=line, max_memory=cap)
    data: dict[str, Any] = measured.as_dict()
    reference = summary.get("last_spatial", summary) if target is not None and node is None else summary
    data["node"] = target or "output"
    data["matches"] = _matches(reference, data)
    return data


def _stride(row: dict[str, Any]) -> str:
    """A layer's stride; a fractional one (transposed convolution, upsampling) as ``1/s``."""
    up = row.get("upsample")
    if row.get("stride") is None or not up or all(u == 1 for u in up):
        return axes(row.get("stride"))
    return "x".join(str(s) if u == 1 else f"{s}/{u}" for s, u in zip(row["stride"], up))


def _matches(analytic: dict[str, Any], measured: dict[str, Any]) -> bool:
    a, m = analytic["rf"], measured["rf"]
    same_rf = a["size"] == m["size"] and a.get("stride_exact", a["stride"]) == m.get("stride_exact", m["stride"]) \
        and a["offset"] == m["offset"] and a.get("phase_sizes") == m.get("phase_sizes", a.get("phase_sizes"))
    return bool(same_rf and analytic["support"]["taps"] == measured["support"]["taps"])


def _empirical_only(model: Any, shape: tuple[int, ...], node: str | None, why: str,
                    quiet: bool = False, cap: int | None = None) -> dict[str, Any]:
    from atrous.analysis.empirical import empirical_rf
    from atrous.cli._progress import StatusLine

    print(f"atrous: no exact analysis ({why}); measuring the receptive field with gradients instead",
          file=sys.stderr)
    with StatusLine("atrous: gradient measurement", enabled=not quiet) as line:
        data: dict[str, Any] = empirical_rf(model, shape, node=node, progress=line,
                                            max_memory=cap).as_dict()
    data["method"] = "empirical"
    data["rf"].setdefault("exact", True)
    data.setdefault("gridding", {"hdc_ok": False, "messages": []})
    data["gridding"]["messages"] = [f"not traced ({why}); gridding rules were not checked"]
    data.update({"layers": [], "nodes": [], "aligned": None, "alignment": [], "node": node or "output",
                 "input_shape": list(shape),
                 "output": None, "notes": ["measured, not traced: rf and support come from the gradient measurement "
                                           "of a linearised copy of the model"]})
    return data


def render(s: dict[str, Any], source: str, summary_only: bool = False) -> str:
    lines = [f"atrous analyze: {source}, input {'x'.join(map(str, s.get('input_shape', [])))}, "
             f"node {s['node']}" + (f" ({s['graph_node']})" if s.get("graph_node", s["node"]) != s["node"] else "")]
    if s["nodes"] and not summary_only:
        rows = [[n["name"], n["op"], axes(n["kernel"]), axes(n["dilation"]), _stride(n), axes(n["rf"]),
                 jumps(n), percent(n["coverage"]), str(n["holes"]), "yes" if n["aligned"] else "NO"]
                for n in s["nodes"]]
        headers = ["node", "op", "kernel", "dilation", "stride", "RF", "jump", "coverage", "holes", "aligned"]
        lines += ["", table(headers, rows, [False, False] + [True] * 8)]
    lines.append("")
    lines += summary_lines(s)
    lines += phase_line(s["rf"])
    if "last_spatial" in s:
        last = s["last_spatial"]
        lines.append(f"last spatial map {last['node']} (before global pooling):")
        lines += ["  " + line for line in rf_lines(last["rf"], last["support"])]
    if "empirical" in s and "not_run" in s["empirical"]:
        lines.append(f"empirical check  not run: {s['empirical']['not_run']}")
    elif "empirical" in s:
        e = s["empirical"]
        lines.append(f"empirical check  node {e['node']}: " + ("matches the analysis" if e["matches"]
                                                                else "DIFFERS from the analysis"))
        lines += ["  " + line for line in rf_lines(e["rf"], e["support"], label="measured")]
        lines += ["  " + line for line in phase_line(e["rf"])]
    lines += [f"note: {n}" for n in grouped(s.get("notes", []))]
    return "\n".join(lines)
