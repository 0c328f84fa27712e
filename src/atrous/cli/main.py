"""``atrous``: the command line. ``main(argv) -> exit code``; one module per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from atrous._version import __version__
from atrous.errors import AtrousError

EPILOG = """examples:
  atrous rf --kernel 3 --dilation 1,2,4           receptive field, holes and HDC verdict of a stack
  atrous rf --kernel 3 --dilation 2,2,2 --dims 2  a 2-D stack that leaves holes (gridding)
  atrous rf --preset aspp --json                  DeepLab's ASPP as one JSON object
  atrous schedule --rf 1024 --kernel 3            the shallowest hole-free schedule reaching 1024
  atrous analyze torchvision:resnet50             every node of a real model, traced at its input shape
  atrous report atrous:deeplabv3                  an HTML report: holes, effective receptive field, frequency
"""


class UsageError(AtrousError, ValueError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """argparse, but a user error is one line on stderr and exit code 2 (raised, so main can print it)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    from atrous.cli.analyze_cmd import add_parser as add_analyze
    from atrous.cli.report_cmd import add_parser as add_report
    from atrous.cli.rf_cmd import add_parser as add_rf
    from atrous.cli.schedule_cmd import add_parser as add_schedule
    from atrous.cli.train_cmd import add_parser as add_train

    parser = Parser(
        prog="atrous",
        description="Dilated (à trous) convolutions: receptive fields, holes, gridding, schedules and model analysis.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"atrous {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in (add_rf, add_schedule, add_analyze, add_report, add_train):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        code: int = args.handler(args)
        return code
    except AtrousError as e:
        print(f"error: {e}" if isinstance(e, UsageError) else f"atrous: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `atrous rf ... | head`
        return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
