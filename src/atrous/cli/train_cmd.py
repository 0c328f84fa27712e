"""``atrous train``: train a model on a sequence task; metrics as JSON lines, checkpoints, exact resume, DDP."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from atrous._validate import int_in_range, max_threads
from atrous.cli._caps import add_cap_flags, memory_cap
from atrous.errors import ConfigError

#: every registered task (kept here so that --help does not import torch; a test compares it with the registry)
TASK_NAMES = ("adding", "copy", "digits", "pdigits", "chorales", "object_scale", "gridding", "lanes", "nuclei",
              "hops", "karate", "rhythm", "enhancer")
_TASK_LIST = ", ".join(TASK_NAMES)

EPILOG = f"""tasks: {_TASK_LIST} (docs/train.md)
models: tcn, lstm, gru, wavenet for the sequence tasks; each application task names its own (docs/train.md)

examples:
  atrous train adding                                 Bai et al.'s adding problem, T=600, TCN 8x24 k=8 (70K)
  atrous train copy --model gru --epochs 5            copy memory T=1000 with the ~16K-parameter GRU baseline
  atrous train digits --model lstm --out runs/lstm    sequential 8x8 digits, metrics in runs/lstm/metrics.jsonl
  atrous train adding --length 50 --steps 200 --model-arg channels=16,16 --model-arg kernel_size=4
  atrous train --resume runs/lstm                     continue a stopped run exactly where it stopped
  torchrun --nproc-per-node 2 -m atrous train digits  the same run on 2 processes (DDP; gloo on CPU)
  atrous train object_scale --data-arg object_size=21 --model-arg rates=1,1,4,4   RF 21 vs objects of 21 px
  atrous train gridding --model-arg rates=2,2,2       per-pixel tiny shapes with a gridding 2,2,2 stack
  atrous train hops --model dilated_gnn --data-arg d=4 --model-arg dilations=4,1   label 4 hops away
  atrous train lanes --model-arg decoder=true          DeepLab (OS 8, ASPP) + V3+ decoder on dashed lanes
"""

#: option -> TrainConfig field, for the options a resumed run compares with the saved ones
_FIELDS = ("model", "epochs", "steps", "seed", "batch_size", "lr", "optimizer", "clip", "lr_step", "log_every",
           "eval_every", "checkpoint_every", "init_from", "threads", "deterministic")
_DATA = ("length", "train_size", "test_size", "data_seed", "limit", "data_dir")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a model on a task (Bai et al.'s sequence tasks and the applications)",
        description="Train a TCN (or another causal model, or an LSTM/GRU baseline) on one of the tasks of Bai, "
                    "Kolter & Koltun (2018), or a dense, graph or DNA model on an application task. Writes "
                    "config.json, metrics.jsonl, last.pt, best.pt and summary.json to --out. Unset options take "
                    "the task's defaults (the paper's where it gives them).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", nargs="?", metavar="TASK", help=_TASK_LIST)
    p.add_argument("--model", metavar="NAME", help="tcn (default), lstm, gru, wavenet, ...")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a model argument, e.g. channels=25,25 or kernel_size=7 (repeatable; JSON values)")
    p.add_argument("--epochs", type=int, metavar="N", help="passes over the training split")
    p.add_argument("--steps", type=int, metavar="N", help="stop after N optimizer steps in all (quick runs)")
    p.add_argument("--seed", type=int, metavar="S", help="initialisation, data order and dropout (default 0)")
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/TASK-MODEL-seedS)")
    p.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    p.add_argument("--init-from", metavar="PATH",
                   help="start from the model weights of a checkpoint or run folder (fine-tuning, curricula)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads (default: torch's choice); saved with the run, so a resume uses it")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="torch.use_deterministic_algorithms(True) for the run; saved with it, like --threads, the "
                        "default dtype and the convolution paths, so a resume restores them all")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="save and exit after N steps of this invocation (resume later with --resume)")
    train = p.add_argument_group("optimisation")
    train.add_argument("--batch-size", type=int, metavar="N", help="global batch (split over processes)")
    train.add_argument("--lr", type=float, metavar="LR", help="learning rate")
    train.add_argument("--optimizer", metavar="NAME", help="adam, rmsprop or sgd")
    train.add_argument("--clip", type=float, metavar="NORM", help="clip the gradient norm (0: off)")
    train.add_argument("--lr-step", type=int, metavar="EPOCHS", help="lr x 0.1 every EPOCHS epochs (0: off)")
    train.add_argument("--log-every", type=int, metavar="N", help="training-loss line every N steps (50)")
    train.add_argument("--eval-every", type=int, metavar="N", help="also evaluate every N steps")
    train.add_argument("--checkpoint-every", type=int, metavar="N", help="also save last.pt every N steps")
    data = p.add_argument_group("data")
    data.add_argument("--length", type=int, metavar="T", help="sequence length (adding) or blank length (copy)")
    data.add_argument("--train-size", type=int, metavar="N", help="training samples (adding, copy)")
    data.add_argument("--test-size", type=int, metavar="N", help="test samples (adding, copy)")
    data.add_argument("--data-seed", type=int, metavar="S", help="the generated data and the splits (default 0)")
    data.add_argument("--limit", type=int, metavar="N", help="chorales: use only the first N pieces")
    data.add_argument("--data-dir", metavar="DIR", help="chorales: cache folder of the parsed rolls")
    data.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                      help="any other data option of the task, e.g. d=4 for hops (repeatable; JSON values)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_cap_flags(p)
    p.set_defaults(handler=run)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [_value(t) for t in text.split(",")]
    return text


def _model_args(items: list[str], option: str = "--model-arg") -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"train: {option} must be KEY=VALUE, got {item!r}")
        out[key.strip()] = _value(value.strip())
    return out


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, as TrainConfig fields."""
    given: dict[str, Any] = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    data = {k: getattr(args, k) for k in _DATA if getattr(args, k) is not None}
    data.update(_model_args(args.data_arg, "--data-arg"))
    if data:
        given["data"] = data
    if args.model_arg:
        given["model_kwargs"] = _model_args(args.model_arg)
    if args.task is not None:
        given["task"] = args.task
    return given


def run(args: argparse.Namespace) -> int:
    from atrous.train.config import MAX_COUNT, TrainConfig
    from atrous.train.loop import fit
    from atrous.train.state import load_checkpoint
    from atrous.train.tasks import get_task

    given = _given(args)
    cap = memory_cap(args, "train")
    if args.threads is not None:
        int_in_range("train", "--threads", args.threads, 1, max_threads())
    if args.stop_after is not None:
        int_in_range("train", "--stop-after", args.stop_after, 1, MAX_COUNT)
    if args.resume is not None:
        out = Path(args.resume)
        if args.out is not None and Path(args.out) != out:
            raise ConfigError(f"train: --out must be the resumed folder {str(out)!r} or left out, got {args.out!r}")
        config = TrainConfig.from_dict(load_checkpoint(out / "last.pt")["config"]).resume_with(given)
    else:
        if args.task is None:
            raise ConfigError(f"train: TASK is required (one of {_TASK_LIST}), or --resume DIR")
        task = get_task(args.task)
        if "model" not in given and task.model_names:
            given["model"] = task.model_names[0]  # a task that cannot train the default tcn names its first model
        config = TrainConfig(**given)
        out = Path(args.out or f"runs/{config.task}-{config.model}-seed{config.seed}")
    show = not (args.quiet or args.json) and sys.stdout.isatty() and sys.stderr.isatty()
    summary = fit(config, out, device=args.device, resume=args.resume is not None, stop_after=args.stop_after,
                  progress=show, max_memory=cap)
    if summary["world"] > 1 and not _is_main():
        return 0
    if args.json:
        print(json.dumps(summary))
        return 0
    model = summary["model"]
    print(f"atrous train: {summary['task']} / {model['name']} ({summary['params']:,} parameters), "
          f"{summary['status']} at step {summary['step']} of {summary['steps']}")
    for key, value in summary["metrics"].items():
        print(f"  {key:<24}{value:.6g}")
    best = {k: v for k, v in summary["best"].items() if k != "step"}
    for key, value in best.items():
        if value is not None:
            print(f"  best {key:<19}{value:.6g} (step {summary['best']['step']})")
    print(f"  run folder              {summary['out']}")
    if summary["status"] == "stopped":
        print(f"  resume with             atrous train --resume {summary['out']}")
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
