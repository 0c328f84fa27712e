"""The settings of a training run, resolved against the task's defaults and stored with every checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

from atrous._validate import MAX_SEED, finite_number, int_in_range, max_threads
from atrous.errors import ConfigError, bad
from atrous.functional import auto_channels_last_enabled, benchmark_enabled
from atrous.train.tasks import get_task

__all__ = ["DTYPES", "OPTIMIZERS", "RESUMABLE", "TrainConfig"]

OPTIMIZERS = ("adam", "rmsprop", "sgd")
#: default floating dtypes a run may be built in
DTYPES = ("float32", "float64")
#: options that may change when a run is resumed (everything else must match the saved run)
RESUMABLE = ("epochs", "steps")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's numbers. ``None`` means "the task's default" until :meth:`resolved`.

    Args:
        task: a name from :data:`atrous.train.TASKS`.
        model: ``tcn``, ``wavenet``, ``lstm``, ``gru`` (any causal registered model that takes in_channels and
            out_channels).
        model_kwargs: overrides of the task's defaults for the model (``{"channels": [8, 8]}``).
        epochs: passes over the training split.
        steps: stop after this many optimizer steps in all (caps ``epochs``; for quick runs).
        seed: initialisation, data order and dropout.
        batch_size: the global batch (split evenly over the processes of a distributed run).
        lr, optimizer: learning rate and ``adam`` / ``rmsprop`` / ``sgd``.
        clip: gradient-norm clipping threshold, applied after ``backward``; 0 turns it off.
        lr_step: multiply the learning rate by 0.1 every ``lr_step`` epochs; 0 turns it off.
        data: data options (``length``, ``train_size``, ``test_size``, ``data_seed``, ``limit``, ``data_dir``).
        log_every: write a training-loss line every this many steps.
        eval_every: also evaluate every this many steps (0: at the end of each epoch and of the run only).
        checkpoint_every: also save ``last.pt`` every this many steps (0: at epoch ends and when stopping).
        init_from: start from the model weights of this checkpoint (a ``.pt`` file, or a run folder: its
            ``last.pt``) instead of a fresh initialisation: fine-tuning, or the next stage of a curriculum.
            The architecture must match; the optimizer starts afresh.
        threads: torch CPU threads (``None``: torch's current count, recorded when resolved). The summation
            order of a kernel depends on it, so a resumed run uses the saved count.
        deterministic: run under ``torch.use_deterministic_algorithms(True)`` (``None``: the current setting,
            recorded when resolved).
        dtype: the default floating dtype the model is built in, ``"float32"`` or ``"float64"`` (``None``: torch's
            current default, recorded when resolved).
        conv_benchmark, conv_auto_channels_last: the dilated convolutions' path choice
            (:func:`atrous.functional.set_benchmark`, :func:`atrous.functional.set_auto_channels_last`; ``None``:
            the current settings, recorded when resolved). The paths differ in float rounding, so the paths a
            run measured are saved with its checkpoint and taken again on resume.
        device: the device type the run trains on (``"cpu"``, ``"cuda"``), recorded by :func:`~atrous.train.fit`;
            a resumed run must use the same type.

    Every one of these is saved in ``config.json`` and ``last.pt``; ``atrous train --resume DIR`` restores them
    all, so a resumed run gives the numbers of a run that never stopped without any option repeated.
    """

    task: str
    model: str = "tcn"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    steps: int | None = None
    seed: int = 0
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    clip: float | None = None
    lr_step: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    log_every: int = 50
    eval_every: int = 0
    checkpoint_every: int = 0
    init_from: str | None = None
    threads: int | None = None
    deterministic: bool | None = None
    dtype: str | None = None
    conv_benchmark: bool | None = None
    conv_auto_channels_last: bool | None = None
    device: str | None = None

    def resolved(self) -> TrainConfig:
        """Fill every ``None`` from the task's defaults and check the values.

        A bad value raises :class:`~atrous.errors.ConfigError` naming the field (``data['length']`` for a data
        option); ``atrous train`` shows the same message with the flag (``--length``).

        >>> TrainConfig("adding", lr=float("inf")).resolved()
        Traceback (most recent call last):
        ...
        atrous.errors.ConfigError: TrainConfig: lr must be a finite number > 0, got inf
        """
        task = get_task(self.task)
        hp = task.hparams
        unknown = [k for k in self.data if k not in task.data and k != "data_seed"]
        if unknown:
            allowed = ", ".join(["data_seed", *task.data]) or "data_seed"
            raise bad("TrainConfig", "data option", f"one of {allowed} for task {task.name!r}", unknown[0])
        data = {**task.data, "data_seed": 0, **self.data}
        out = replace(
            self,
            epochs=hp["epochs"] if self.epochs is None else self.epochs,
            batch_size=hp["batch_size"] if self.batch_size is None else self.batch_size,
            lr=hp["lr"] if self.lr is None else self.lr,
            optimizer=hp["optimizer"] if self.optimizer is None else self.optimizer,
            clip=(hp["clip"] or 0.0) if self.clip is None else self.clip,
            lr_step=(hp["lr_step"] or 0) if self.lr_step is None else self.lr_step,
            model_kwargs=dict(self.model_kwargs), data=data,
            threads=torch.get_num_threads() if self.threads is None else self.threads,
            deterministic=torch.are_deterministic_algorithms_enabled() if self.deterministic is None
            else self.deterministic,
            dtype=str(torch.get_default_dtype()).replace("torch.", "") if self.dtype is None else self.dtype,
            conv_benchmark=benchmark_enabled() if self.conv_benchmark is None else self.conv_benchmark,
            conv_auto_channels_last=auto_channels_last_enabled() if self.conv_auto_channels_last is None
            else self.conv_auto_channels_last,
        )
        out._check()
        return out

    def _check(self) -> None:
        for name in ("epochs", "batch_size", "log_every"):
            _int(name, getattr(self, name), 1, MAX_COUNT)
        for name in ("lr_step", "eval_every", "checkpoint_every"):
            _int(name, getattr(self, name), 0, MAX_COUNT)
        _int("seed", self.seed, 0, MAX_SEED)
        if self.steps is not None:
            _int("steps", self.steps, 1, MAX_COUNT)
        for key in ("length", "train_size", "test_size", "limit"):
            if self.data.get(key) is not None:
                _int(f"data[{key!r}]", self.data[key], 1, MAX_COUNT)
        _int("data['data_seed']", self.data["data_seed"], 0, MAX_SEED)
        _int("threads", self.threads, 1, max_threads())
        for name in ("deterministic", "conv_benchmark", "conv_auto_channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise bad("TrainConfig", name, "True or False", getattr(self, name))
        if self.dtype not in DTYPES:
            raise bad("TrainConfig", "dtype", f"one of {', '.join(DTYPES)}", self.dtype)
        if self.device is not None and self.device not in ("cpu", "cuda", "mps"):
            raise bad("TrainConfig", "device", "a device type (cpu, cuda or mps)", self.device)
        finite_number("TrainConfig", "lr", self.lr, positive=True)
        finite_number("TrainConfig", "clip", self.clip, minimum=0, fix="0 turns clipping off")
        if self.optimizer not in OPTIMIZERS:
            raise bad("TrainConfig", "optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer)
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise bad("TrainConfig", "init_from", "a checkpoint file or a run folder", self.init_from)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_kwargs"], out["data"] = dict(self.model_kwargs), dict(self.data)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def resume_with(self, given: Mapping[str, Any]) -> TrainConfig:
        """This (saved) config with the options given again on the command line: ``epochs`` and ``steps`` may
        change; any other option that differs is an error (it would change the numbers being resumed)."""
        saved = self.as_dict()
        for key, value in given.items():
            if key in RESUMABLE or value is None:
                continue
            old = saved.get(key)
            if isinstance(value, Mapping) and isinstance(old, Mapping):
                differs = any(old.get(k) != v for k, v in value.items())
            else:
                differs = old != value
            if differs:
                raise ConfigError(f"TrainConfig.resume_with: {key} must match the run being resumed ({old!r}), "
                                  f"got {value!r}; start a new run in another out folder to change it")
        return replace(self, **{k: given[k] for k in RESUMABLE if given.get(k) is not None})


#: sane upper bound of epochs, steps, batch size and intervals (a run of 10**9 steps is a typo)
MAX_COUNT = 10**9


def _int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    int_in_range("TrainConfig", name, value, minimum, maximum)
