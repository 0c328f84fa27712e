"""The task registry: what a task trains on, the model it sizes, its loss and its metrics.

A :class:`Task` turns the data options into datasets, gives each model family its default settings (Bai et
al.'s for ``tcn``, a recurrent baseline of about the same parameter count for ``lstm`` and ``gru``), computes
the training loss of a batch, and the sums that evaluation averages into metrics.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.errors import ConfigError, bad

__all__ = ["TASKS", "Task", "batch_to", "get_task", "image_sample", "list_tasks", "model_kwargs", "register_task",
           "sequence_sample", "trainable_models"]

Batch = tuple[Tensor, ...]
#: name -> (sum, count): evaluation adds these over batches and reports sum / count
Scores = dict[str, tuple[float, int]]


@dataclass(frozen=True)
class Task:
    """One training task. Hyperparameters default to Bai et al. (2018) where the paper or its code gives them."""

    name: str
    description: str
    #: (data options) -> {"train": Dataset, <eval split>: Dataset, ...}
    datasets: Callable[[Mapping[str, Any]], dict[str, Dataset[Any]]]
    in_channels: int
    out_channels: int
    #: (model output (B, C, L), batch) -> mean loss of the batch
    loss: Callable[[Tensor, Batch], Tensor]
    #: (model output, batch) -> Scores
    scores: Callable[[Tensor, Batch], Scores]
    #: the headline metric (the best checkpoint is chosen on the first eval split's value)
    metric: str
    higher_is_better: bool
    eval_splits: tuple[str, ...]
    #: default keyword arguments per model family
    models: Mapping[str, Mapping[str, Any]]
    #: default training options: epochs, batch_size, lr, optimizer, clip, lr_step
    hparams: Mapping[str, Any]
    #: default data options: length, train_size, test_size, ...
    data: Mapping[str, Any] = field(default_factory=dict)
    collate: Callable[[list[Any]], Batch] | None = None
    #: (model, batch) -> model output; default ``model(batch[0])`` (graph tasks also pass the edges)
    forward: Callable[[Any, Batch], Tensor] | None = None
    #: the models this task can train (default: the recurrent baselines and every causal registry model)
    model_names: tuple[str, ...] | None = None
    #: (data options) -> (the option that sets the size of one sample, the spatial shape of one sample as the model
    #: reads it, bytes that generating one sample needs besides it): what ``atrous train`` estimates before it
    #: allocates anything (see :func:`sample_cost`); None: the samples have a fixed, small size
    sample: Callable[[Mapping[str, Any]], tuple[str, tuple[int, ...], int]] | None = None

    def run(self, model: Any, batch: Batch) -> Tensor:
        """The model's output on a batch."""
        return self.forward(model, batch) if self.forward is not None else model(batch[0])


# ---- losses and scores -------------------------------------------------------------------------------------


def _last(out: Tensor) -> Tensor:
    return out[..., -1]


def _adding_loss(out: Tensor, batch: Batch) -> Tensor:
    return F.mse_loss(_last(out)[:, 0], batch[1])


def _adding_scores(out: Tensor, batch: Batch) -> Scores:
    err = (_last(out)[:, 0] - batch[1]).square()
    return {"mse": (float(err.sum()), err.numel())}


def _copy_loss(out: Tensor, batch: Batch) -> Tensor:
    return F.cross_entropy(out, batch[1])


def _copy_scores(out: Tensor, batch: Batch) -> Scores:
    y = batch[1]
    per_seq = F.cross_entropy(out, y, reduction="none").mean(dim=1)
    recalled = (out[..., -10:].argmax(dim=1) == y[:, -10:]).float()
    return {"loss": (float(per_seq.sum()), len(y)), "recall_accuracy": (float(recalled.sum()), recalled.numel())}


def _class_loss(out: Tensor, batch: Batch) -> Tensor:
    return F.cross_entropy(_last(out), batch[1])


def _class_scores(out: Tensor, batch: Batch) -> Scores:
    logits, y = _last(out), batch[1]
    return {"accuracy": (float((logits.argmax(dim=1) == y).sum()), len(y)),
            "loss": (float(F.cross_entropy(logits, y, reduction="sum")), len(y))}


def _music_loss(out: Tensor, batch: Batch) -> Tensor:
    from atrous.data.music import frame_nll

    return frame_nll(out, batch[1], batch[2]).mean()


def _music_scores(out: Tensor, batch: Batch) -> Scores:
    from atrous.data.music import frame_nll

    nll = frame_nll(out, batch[1], batch[2])
    return {"nll": (float(nll.sum()), len(nll))}


# ---- datasets -------------------------------------------------------------------------------------------------


def _adding_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.synthetic import AddingProblem

    return {split: AddingProblem(opts["length"], opts[f"{split}_size"], split, opts["data_seed"])
            for split in ("train", "test")}


def sequence_sample(extra: int = 0) -> Callable[[Mapping[str, Any]], tuple[str, tuple[int, ...], int]]:
    """A sequence of ``length + extra`` steps; generating it needs a few float copies of it."""
    return lambda opts: ("length", (opts["length"] + extra,), 16 * (opts["length"] + extra))


def image_sample(option: str) -> Callable[[Mapping[str, Any]], tuple[str, tuple[int, ...], int]]:
    """A square image of ``option`` pixels a side; generating it needs about 64 bytes a pixel (float64 noise,
    int64 masks and labels)."""
    return lambda opts: (option, (opts[option], opts[option]), 64 * opts[option] ** 2)


def _copy_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.synthetic import CopyMemory

    return {split: CopyMemory(opts["length"], opts[f"{split}_size"], split, opts["data_seed"])
            for split in ("train", "test")}


def _digits_data(permute: bool) -> Callable[[Mapping[str, Any]], dict[str, Dataset[Any]]]:
    def make(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
        from atrous.data.digits import SequentialDigits

        return {split: SequentialDigits(split, permute, opts["data_seed"]) for split in ("train", "test")}

    return make


def _music_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.music import BachChorales

    return {split: BachChorales(split, opts["data_seed"], opts.get("data_dir"), limit=opts.get("limit"))
            for split in ("train", "valid", "test")}


def _collate_rolls(batch: list[Any]) -> Batch:
    from atrous.data.music import collate_rolls

    return collate_rolls(batch)


# ---- the registry ---------------------------------------------------------------------------------------------

_SEQ = {"epochs": 20, "batch_size": 64, "lr": 2e-3, "optimizer": "adam", "clip": None, "lr_step": 10}
_DIGIT_MODELS: dict[str, dict[str, Any]] = {
    # Bai et al.'s sequential-MNIST TCN (8 levels of 25, k = 7, 67K parameters) and ~70K-parameter baselines
    "tcn": {"channels": [25] * 8, "kernel_size": 7, "dropout": 0.05, "weight_norm": True},
    "lstm": {"hidden_size": 130}, "gru": {"hidden_size": 150},
}

TASKS: dict[str, Task] = {
    "adding": Task(
        "adding", "adding problem: sum the two marked values of a length-T sequence (MSE)",
        _adding_data, 2, 1, _adding_loss, _adding_scores, "mse", False, ("test",),
        # "TCN 8x24, k=8 (70K)" of the paper's Figure 2 (T = 600); baselines of about 70K parameters
        {"tcn": {"channels": [24] * 8, "kernel_size": 8, "dropout": 0.0, "weight_norm": True},
         "lstm": {"hidden_size": 130}, "gru": {"hidden_size": 150}},
        {"epochs": 10, "batch_size": 32, "lr": 2e-3, "optimizer": "adam", "clip": None, "lr_step": None},
        {"length": 600, "train_size": 50_000, "test_size": 1_000}, sample=sequence_sample(),
    ),
    "copy": Task(
        "copy", "copy memory: repeat 10 symbols after a blank of length T (cross-entropy over every step)",
        _copy_data, 1, 10, _copy_loss, _copy_scores, "loss", False, ("test",),
        # "TCN 8x10, k=8 (13K)" of the paper's Figure 4 (T = 1000); baselines of about 16K parameters
        {"tcn": {"channels": [10] * 8, "kernel_size": 8, "dropout": 0.0, "weight_norm": True},
         "lstm": {"hidden_size": 60}, "gru": {"hidden_size": 70}},
        {"epochs": 50, "batch_size": 32, "lr": 5e-4, "optimizer": "rmsprop", "clip": 1.0, "lr_step": None},
        {"length": 1000, "train_size": 10_000, "test_size": 1_000}, sample=sequence_sample(20),
    ),
    "digits": Task(
        "digits", "sequential digits: classify sklearn's 8x8 digits read pixel by pixel (64 steps)",
        _digits_data(False), 1, 10, _class_loss, _class_scores, "accuracy", True, ("test",), _DIGIT_MODELS, _SEQ,
    ),
    "pdigits": Task(
        "pdigits", "permuted digits: the same with the pixels in a fixed random order",
        _digits_data(True), 1, 10, _class_loss, _class_scores, "accuracy", True, ("test",), _DIGIT_MODELS, _SEQ,
    ),
    "chorales": Task(
        "chorales", "Bach chorales (music21): predict the next 88-key frame (frame NLL, JSB-style)",
        _music_data, 88, 88, _music_loss, _music_scores, "nll", False, ("valid", "test"),
        # the paper's JSB TCN (k = 3, 2 levels of 150, dropout 0.5; 270K) and ~300K-parameter baselines
        {"tcn": {"channels": [150] * 2, "kernel_size": 3, "dropout": 0.5, "weight_norm": True},
         "lstm": {"hidden_size": 220}, "gru": {"hidden_size": 260}},
        {"epochs": 100, "batch_size": 1, "lr": 1e-3, "optimizer": "adam", "clip": 0.4, "lr_step": None},
        {"limit": None, "data_dir": None},
        _collate_rolls,
    ),
}


#: modules that add application tasks with :func:`register_task` when imported (see docs/train.md)
FAMILIES: tuple[str, ...] = ("atrous.train.tasks_vision", "atrous.train.tasks_graph", "atrous.train.tasks_music",
                             "atrous.train.tasks_genomics", "atrous.train.tasks_seg")
_loaded = False


def register_task(task: Task) -> Task:
    """Add ``task`` to the registry; a duplicate name is an error."""
    if task.name in TASKS:
        raise ConfigError(f"register_task: a task named {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in FAMILIES:
            importlib.import_module(module)


def list_tasks() -> list[str]:
    """Names of every task, application tasks included."""
    _load_families()
    return list(TASKS)


def get_task(name: str) -> Task:
    _load_families()
    if name not in TASKS:
        raise bad("TrainConfig", "task", f"one of {', '.join(TASKS)}", name)
    return TASKS[name]


def trainable_models(task: Task | None = None) -> list[str]:
    """Models ``task`` can size (by default the recurrent baselines and the registered causal models)."""
    if task is not None and task.model_names is not None:
        return list(task.model_names)
    from atrous.models import list_models
    from atrous.models.recurrent import RECURRENT

    return sorted({*RECURRENT, *list_models(causal=True)})


def _builder_params(name: str) -> list[str]:
    from atrous.models import model_info
    from atrous.models.recurrent import RECURRENT

    builder: Any = RECURRENT[name] if name in RECURRENT else model_info(name).builder
    return list(inspect.signature(builder).parameters)


def model_kwargs(task: Task, model: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments that build ``model`` for ``task``: the task's defaults for the family, the
    task's channel counts, then ``overrides``."""
    allowed = trainable_models(task)
    if model not in allowed:
        raise bad("TrainConfig", "model", f"one of {', '.join(allowed)}", model)
    params = _builder_params(model)
    # dense classifiers name their output channels num_classes (torchvision's segmentation models do)
    out_name = "out_channels" if "out_channels" in params else "num_classes"
    if "in_channels" not in params or out_name not in params:
        raise ConfigError(f"TrainConfig: model {model!r} cannot be sized for a task: it takes no in_channels and "
                          "out_channels (or num_classes)")
    kwargs: dict[str, Any] = {"in_channels": task.in_channels, out_name: task.out_channels,
                              **task.models.get(model, {}), **(overrides or {})}
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        raise bad("TrainConfig", "model_kwargs key", f"an argument of {model!r} ({', '.join(params)})", unknown[0])
    return kwargs


def batch_to(batch: Batch, device: torch.device) -> Batch:
    return tuple(t.to(device, non_blocking=True) for t in batch)
