"""``atrous rf``: receptive field, exact support, alignment and gridding verdicts of a described stack."""

from __future__ import annotations

import argparse
import json
from typing import Any

from atrous._validate import check_cap, int_list, positive_int, word_list
from atrous.cli._caps import add_cap_flags, memory_cap, time_cap
from atrous.cli._format import axes, jumps, percent, phase_line, table
from atrous.cli._report import summary_lines
from atrous.errors import ConfigError

EPILOG = """examples:
  atrous rf --kernel 3 --dilation 1,2,4                 1-D stack, "same" padding: RF 15, no holes
  atrous rf -k 3 -d 2,2,2 --dims 2                      2-D gridding: 49 of 169 inputs read
  atrous rf -k 2 -d 1,2,4,8,16,32,64,128,256,512 --causal   a WaveNet cycle: RF 1024, lookahead 0
  atrous rf -k 3,2,3 -s 1,2,1 --kind conv,maxpool,conv  pooling in the stack
  atrous rf -k 3 -d 1,1 --dims 2 --branches 6,12,18 --input-size 33   ASPP branches on a 33x33 map
  atrous rf --preset tcn --json                          Bai et al.'s TCN as one JSON object
presets: {presets}
"""

STACK_ARGS = ("kernel", "dilation", "stride", "padding", "kind")
WHERE = "atrous rf"


def add_parser(sub: Any) -> None:
    from atrous.rf.presets import PRESETS

    p = sub.add_parser(
        "rf", help="receptive field, holes and gridding of a stack",
        description="Receptive field (size, stride, centre), exact support with holes, alignment and the "
                    "HDC gridding verdict of a stack of dilated convolutions.",
        epilog=EPILOG.format(presets=", ".join(PRESETS)), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-k", "--kernel", metavar="K[,K...]", help="kernel size, one for all layers or one per layer "
                   "(default 3)")
    p.add_argument("-d", "--dilation", metavar="D[,D...]", help="dilation per layer (default 1)")
    p.add_argument("-s", "--stride", metavar="S[,S...]", help="stride per layer (default 1)")
    p.add_argument("--padding", metavar="P[,P...]", help="same, valid, causal or an int, per layer "
                   "(default same)")
    p.add_argument("--kind", metavar="KIND[,...]", help="conv, maxpool or avgpool per layer (default conv)")
    p.add_argument("--dims", type=int, choices=(1, 2, 3), default=1, help="spatial axes (square kernels)")
    p.add_argument("--causal", action="store_true", help="causal padding (along the first axis when --dims > 1)")
    p.add_argument("--input-size", metavar="N[,N...]", help="input length per axis: adds feature-map sizes and "
                   "the border-layer check")
    p.add_argument("--branches", metavar="R[,R...]", help="parallel branches after the stack, one per rate, "
                   "merged by concatenation (ASPP)")
    p.add_argument("--branch-kernel", type=int, default=3, metavar="K", help="kernel of the branches (default 3)")
    p.add_argument("--image-pool", action="store_true", help="add a global image-pooling branch")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a built-in architecture instead of a stack")
    p.add_argument("--holes", action="store_true", help="list the unread offsets per axis")
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/cli.md)")
    add_cap_flags(p, time=True)
    p.set_defaults(handler=run)


def build_spec(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """(graph, title, input_size) from the parsed arguments."""
    from atrous.rf import Graph, conv, global_pool, pool
    from atrous.rf.presets import PRESETS, preset

    input_size: Any = int_list(WHERE, "--input-size", args.input_size) if args.input_size is not None else None
    if input_size is not None and len(input_size) == 1:
        input_size = input_size[0]  # one length for every axis
    given = [a for a in STACK_ARGS if getattr(args, a) is not None]
    if args.preset:
        clash = given + [x for x in ("branches", "image_pool", "causal") if getattr(args, x)]
        if clash:
            raise ConfigError(f"atrous rf: --preset cannot be combined with --{clash[0].replace('_', '-')}; "
                              "describe either a preset or a stack")
        size = input_size if input_size is not None else PRESETS[args.preset][2]
        return preset(args.preset), f"preset {args.preset}: {PRESETS[args.preset][1]}", size
    if not given and args.branches is None and not args.image_pool:
        raise ConfigError("atrous rf: a stack must be given: use --kernel/--dilation/--stride, --branches or "
                          "--preset (see atrous rf --help)")
    if args.causal and args.padding is not None:
        raise ConfigError("atrous rf: --causal sets the padding; drop --padding or --causal")
    dims = args.dims
    graph = Graph(dims=dims)
    n_layers = 0
    if given:
        def given_or(arg: str, default: str) -> str:
            value = getattr(args, arg)
            return default if value is None else str(value)

        kernels = int_list(WHERE, "--kernel", given_or("kernel", "3"))
        dilations = int_list(WHERE, "--dilation", given_or("dilation", "1"))
        strides = int_list(WHERE, "--stride", given_or("stride", "1"))
        pads = word_list(WHERE, "--padding", given_or("padding", "causal" if args.causal else "same"))
        kinds = word_list(WHERE, "--kind", given_or("kind", "conv"))
        lists: dict[str, list[Any]] = {"--kernel": kernels, "--dilation": dilations, "--stride": strides,
                                       "--padding": pads, "--kind": kinds}
        n_layers = max(len(v) for v in lists.values())
        for flag, values in lists.items():
            if len(values) not in (1, n_layers):
                longest = max(lists, key=lambda f: len(lists[f]))
                raise ConfigError(f"atrous rf: {flag} must have one value or one per layer ({n_layers}, as "
                                  f"{longest}), got {len(values)}")
        for i in range(n_layers):
            def pick(values: list[Any], i: int = i) -> Any:
                return values[0] if len(values) == 1 else values[i]

            pad: Any = pick(pads)
            pad = int(pad) if pad.lstrip("-").isdigit() and pad.isascii() and len(pad) < 100 else pad
            if dims > 1 and pad == "causal":
                pad = ("causal",) + ("same",) * (dims - 1)
            kind = pick(kinds)
            name = f"layer{i + 1}"
            if kind == "conv":
                graph.add(conv(pick(kernels), pick(strides), pick(dilations), pad, dims=dims, name=name))
            elif kind in ("maxpool", "avgpool"):
                graph.add(pool(pick(kernels), pick(strides), pick(dilations), pad, kind=kind, dims=dims,
                               name=name))
            else:
                raise ConfigError(f"atrous rf: --kind must be conv, maxpool or avgpool, got {kind!r}")
    trunk = graph.output
    if args.branches is not None or args.image_pool:
        rates = int_list(WHERE, "--branches", args.branches) if args.branches is not None else []
        positive_int(WHERE, "--branch-kernel", args.branch_kernel)
        branches = [graph.add(conv(args.branch_kernel, dilation=r, padding="same", dims=dims), trunk,
                              name=f"branch.rate{r}") for r in rates]
        if args.image_pool:
            branches.append(graph.add(global_pool(dims, broadcast=True), trunk,
                                      name="branch.image_pool"))
        if len(branches) == 1:
            raise ConfigError("atrous rf: --branches must give at least two branches (or add --image-pool), "
                              f"got {args.branches!r}")
        graph.merge(branches, op="cat", name="branches.cat")
    what = f"{n_layers} layer{'s' if n_layers != 1 else ''}"
    if args.branches or args.image_pool:
        what += " + parallel branches"
    return graph, f"{what}, {dims}-D", input_size


def check_cost(graph: Any, args: argparse.Namespace) -> None:
    """Refuse a stack whose support would exceed ``--max-memory`` or ``--max-time`` (before building it)."""
    from atrous.rf.cost import support_cost

    memory, seconds = memory_cap(args, WHERE), time_cap(args, WHERE)
    cost = support_cost(graph)
    flags = [f for f in ("dilation", "kernel", "stride", "branches", "preset", "dims") if getattr(args, f)]
    arg = "--" + flags[0] if flags else "the stack"
    value = getattr(args, flags[0]) if flags else None
    why = "the exact support (taps, holes) is a dense array over the receptive field"
    check_cap(WHERE, arg, value, cost.bytes, memory, "memory", f"{why}; raise --max-memory (GB) to run it")
    check_cap(WHERE, arg, value, cost.seconds, seconds, "time", f"{why}; raise --max-time (seconds) to run it")


def run(args: argparse.Namespace) -> int:
    from atrous.rf.summary import summarize

    graph, title, input_size = build_spec(args)
    check_cost(graph, args)
    summary = summarize(graph, input_size)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(render(summary, title, show_holes=args.holes))
    return 0


def render(s: dict[str, Any], title: str, show_holes: bool = False) -> str:
    """The human-readable report of a :func:`atrous.rf.summary.summarize` object."""
    has_length = any("length" in row for row in s["layers"])
    headers = ["layer", "op", "kernel", "dilation", "stride", "RF", "jump", "coverage"]
    if has_length:
        headers.append("map")
    rows = []
    for row in s["layers"]:
        cells = [row["name"], row["op"], axes(row["kernel"]), axes(row["dilation"]), axes(row["stride"]),
                 axes(row["rf"]), jumps(row), percent(row["coverage"])]
        if has_length:
            cells.append(axes(row.get("length")))
        rows.append(cells)
    lines = [f"atrous rf: {title}", "", table(headers, rows, [False, False] + [True] * (len(headers) - 2)), ""]
    lines.extend(summary_lines(s, show_holes))
    lines.extend(phase_line(s["rf"]))
    lines.extend(f"note: {n}" for n in s.get("notes", []))
    return "\n".join(lines)
