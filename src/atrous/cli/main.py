"""``atrous``: the command line. ``main(argv) -> exit code``; one module per subcommand."""

from __future__ import annotations

import argparse
import ast
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
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
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an unexpected error (put it before COMMAND)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in (add_rf, add_schedule, add_analyze, add_report, add_train):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code: 0 ok, 2 a user error (one line on stderr), 1 an unexpected
    error (one line that asks for a bug report; ``--debug`` shows the traceback)."""
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else list(argv))
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        from atrous.cli._notes import warnings_as_notes

        with warnings_as_notes():
            code: int = args.handler(args)
        return code
    except AtrousError as e:
        print(f"error: {e}" if isinstance(e, UsageError) else f"atrous: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `atrous rf ... | head`
        return 0
    except KeyboardInterrupt:
        print("atrous: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse's --help/--version (code 0); anything else reached here is a bug
        if e.code in (0, None):
            return 0
        return _bug(e, debug)
    except MemoryError:
        print("atrous: error: out of memory; lower the sizes of the command, or use a machine with more memory",
              file=sys.stderr)
        return 2
    except Exception as e:
        return _bug(e, debug)


#: Python arguments named in library messages, and the flag a command-line user sets instead
FLAGS = {"node": "--node", "output": "--output", "input_shape": "--input-shape", "samples": "--samples",
         "inits": "--inits", "seed": "--seed", "device": "--device", "empirical": "--empirical"}
_ARG = re.compile(r"\b(" + "|".join(FLAGS) + r")=(?![\w'\"(\[])")
_RULE = re.compile(r"^(\w+): (" + "|".join(FLAGS) + r") must\b")


#: the training library's entry points; `atrous train` shows its messages as ``train: ...``
TRAIN_WHERE = ("TrainConfig", "fit", "TrainConfig.resume_with", "load_checkpoint")
#: TrainConfig fields and fit keywords that a training message starts with, and the flag that sets each
TRAIN_FLAGS = {"task": "TASK", "model_kwargs key": "--model-arg", "model_kwargs": "--model-arg",
               **{name: "--" + name.replace("_", "-") for name in (
                   "model", "epochs", "steps", "seed", "batch_size", "lr", "optimizer", "clip", "lr_step",
                   "log_every", "eval_every", "checkpoint_every", "init_from", "threads", "device", "stop_after",
                   "max_memory", "out")}}
#: data options with a flag of their own; any other key of TrainConfig.data is set with --data-arg KEY=VALUE
DATA_FLAGS = ("length", "train_size", "test_size", "data_seed", "limit", "data_dir")
#: advice the training library gives in Python terms, and the same advice in flags
TRAIN_ADVICE = (("another out folder", "another --out"), ("raise max_memory", "raise --max-memory (GB)"),
                ("use device='cpu'", "use --device cpu"), ("a lower lr or a clip", "a lower --lr or a --clip"),
                ("lower lr or set clip", "lower --lr or set --clip"),
                ("its weights with init_from", "its weights with --init-from"),
                ("the out folder of a run", "the --out folder of a run"))
_REPR = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_TRAIN_HEAD = re.compile(r"^(" + "|".join(re.escape(w) for w in TRAIN_WHERE) + r"): (?:(data\['(\w+)'\]|"
                         + "|".join(re.escape(a) for a in sorted(TRAIN_FLAGS, key=len, reverse=True)) + r")(?= ))?")
_RESUME = re.compile(r"\bout=(" + _REPR + r"), resume=True\b")
_INIT_FROM = re.compile(r"\binit_from=(?=['\"])")


def _train_flag(m: re.Match[str]) -> str:
    where, arg, key = m.groups()
    if arg is None or where == "TrainConfig.resume_with":  # resume_with names fields, as it did on the command line
        return "train: " + (arg or "")
    if key is not None:
        return "train: " + (f"--{key.replace('_', '-')}" if key in DATA_FLAGS else f"--data-arg {key}")
    return f"train: {TRAIN_FLAGS[arg]}"


def _one_line(e: BaseException) -> str:
    """The message on one line, with the Python arguments it names (``node=``, ``lr``, ``data['image']``) given
    as the flags (``--node``, ``--lr``, ``--data-arg image``)."""
    text = " ".join(str(e).split())
    text = _TRAIN_HEAD.sub(_train_flag, text)
    text = _RESUME.sub(lambda m: f"--resume {ast.literal_eval(m.group(1))}", text)
    text = _INIT_FROM.sub("--init-from ", text)
    for python, flags in TRAIN_ADVICE:
        text = text.replace(python, flags)
    text = _RULE.sub(lambda m: f"{m.group(1)}: {FLAGS[m.group(2)]} must", text)
    return _ARG.sub(lambda m: FLAGS[m.group(1)], text)


def _bug(e: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(e)
    where = ""
    tb = traceback.extract_tb(e.__traceback__)
    if tb:
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}"
    print(f"atrous: internal error: {type(e).__name__}: {_one_line(e)[:300]}{where}; this is a bug, please "
          "report it" + ("" if debug else " (atrous --debug COMMAND ... shows the traceback)"), file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
