"""``atrous schedule``: the shallowest hole-free dilation schedule reaching a target receptive field."""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """examples:
  atrous schedule --rf 1024 --kernel 3            rates, depth and receptive field
  atrous schedule --rf 1024 --kernel 2            WaveNet: 1, 2, 4, ..., 512
  atrous schedule --rf 500 --kernel 3 --max-dilation 16 --json
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "schedule", help="design a hole-free dilation schedule for a target receptive field",
        description="The shallowest schedule of stride-1 dilated convolutions with one kernel size whose "
                    "support has no holes and whose receptive field reaches the target.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rf", type=int, required=True, metavar="N", help="target receptive field (inputs)")
    p.add_argument("-k", "--kernel", type=int, default=3, metavar="K", help="kernel size (default 3)")
    p.add_argument("--max-dilation", type=int, metavar="D", help="largest dilation allowed (e.g. the map size)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from atrous._validate import int_in_range
    from atrous.rf.gridding import hdc_check
    from atrous.rf.schedule import design

    int_in_range("atrous schedule", "--rf", args.rf, 2)
    int_in_range("atrous schedule", "--kernel", args.kernel, 2, fix="a 1-tap kernel never grows the receptive field")
    if args.max_dilation is not None:
        int_in_range("atrous schedule", "--max-dilation", args.max_dilation, 1)
    sched = design(args.rf, kernel=args.kernel, max_dilation=args.max_dilation)
    verdict = hdc_check(list(sched.rates), sched.kernel)
    out = {
        "target_rf": args.rf,
        "kernel": sched.kernel,
        "rates": list(sched.rates),
        "depth": sched.depth,
        "rf": sched.rf,
        "holes": sched.holes,
        "hdc_ok": verdict.ok,
        "hdc_message": verdict.message,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"atrous schedule: shallowest hole-free schedule for RF >= {args.rf} with kernel {sched.kernel}")
    print(f"rates            {', '.join(map(str, sched.rates))}")
    print(f"depth            {sched.depth} layers")
    print(f"receptive field  {sched.rf}")
    print(f"holes            {sched.holes}")
    print(f"HDC              {'ok' if verdict.ok else 'fails'}" + (f": {verdict.message}" if verdict.message else ""))
    return 0
