"""The training loop: ``fit(config, out)``; exact resume, clipping after backward, DDP under torchrun.

Files written to ``out`` by rank 0:

* ``config.json``: the resolved :class:`~atrous.train.config.TrainConfig`.
* ``metrics.jsonl``: one JSON object a line; ``{"kind": "train", "step", "epoch", "loss", "lr", "time"}``
  every ``log_every`` steps and ``{"kind": "eval", "step", "epoch", "<split>_<metric>": value, ..., "best"}``
  after each epoch (and at the last step).
* ``last.pt``: everything needed to continue (model, optimizer, scheduler, the RNG states of torch, numpy
  and Python on every rank, the epoch and the position inside it, the metrics file's length).
* ``best.pt``: the model at the best evaluation of the task's headline metric.
* ``summary.json``: what :func:`fit` returns.
* ``source.jsonl``: the git commit and dirty state of the code, one line per start and resume
  (:mod:`atrous.train.provenance`).

Exact resume: the data order of an epoch is a function of (seed, epoch) only (``DistributedSampler``), a
resumed epoch skips the batches already seen, every DataLoader draws from its own generator (so creating one
leaves the global RNG alone) and the global RNG states are restored; a run stopped and resumed therefore
writes the same metrics as one that never stopped.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from atrous._files import atomic_write, remove_stale_temporaries
from atrous._validate import activation_bytes, check_cap, finite_number, int_in_range
from atrous.errors import AtrousError, ConfigError
from atrous.train import distributed, numerics
from atrous.train.config import MAX_COUNT, TrainConfig
from atrous.train.progress import Progress
from atrous.train.provenance import record_source
from atrous.train.state import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from atrous.train.tasks import Batch, Task, batch_to, get_task, model_kwargs

__all__ = ["ResumableSampler", "TrainingDiverged", "check_memory", "evaluate", "fit", "train_step"]

class ResumableSampler(DistributedSampler[int]):
    """``DistributedSampler`` (shuffled with ``seed + epoch``) that can start an epoch after ``skip`` samples."""

    def __init__(self, dataset: Dataset[Any], world: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.skip = 0

    def start(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip:])

    def __len__(self) -> int:
        return self.num_samples - self.skip


def train_step(model: nn.Module, task: Task, batch: Batch, optimizer: torch.optim.Optimizer, clip: float) -> Tensor:
    """One optimizer step; returns the batch loss (detached).

    Clipping comes after ``backward``: locuslab/TCN's ``copymem_test.py`` clips before it, where the gradients
    are still those of the previous step's ``zero_grad`` (none), so it never clips.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = task.loss(task.run(model, batch), batch)
    torch.autograd.backward(loss)
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, datasets: dict[str, Dataset[Any]], batch_size: int,
             device: torch.device) -> dict[str, float]:
    """The task's metrics on each of its evaluation splits, as ``{"<split>_<name>": value}``."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    for split in task.eval_splits:
        totals: dict[str, list[float]] = {}
        loader = DataLoader(datasets[split], batch_size, shuffle=False, collate_fn=task.collate,
                            generator=torch.Generator())
        for raw in loader:
            batch = batch_to(tuple(raw), device)
            for name, (total, count) in task.scores(task.run(model, batch), batch).items():
                acc = totals.setdefault(name, [0.0, 0.0])
                acc[0] += total
                acc[1] += count
        out.update({f"{split}_{name}": s / max(n, 1.0) for name, (s, n) in totals.items()})
    model.train(was_training)
    return out


class _StopSignal:
    """SIGINT / SIGTERM ask the loop to stop at the next step boundary (after saving ``last.pt``); a second
    SIGINT interrupts at once. A signal the process was started to ignore (``nohup``, a shell's background job)
    stays ignored."""

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    assert cfg.lr is not None
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr)


def fit(config: TrainConfig, out: str | Path, *, device: str = "auto", resume: bool = False,
        stop_after: int | None = None, progress: bool | None = None, max_memory: int | None = None) -> dict[str, Any]:
    """Train ``config`` and write its files to ``out``; returns the summary (also in ``out/summary.json``).

    Args:
        config: the run's settings (resolved here against the task's defaults).
        out: the run folder. A new run refuses a folder that already holds one.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...; under torchrun, ``cuda`` is ``cuda:LOCAL_RANK``.
        resume: continue the run saved in ``out/last.pt`` (``config`` must be the saved one; see
            :meth:`TrainConfig.resume_with`).
        stop_after: run at most this many steps in this call, then save and return (``status: "stopped"``).
        progress: draw a progress bar (rank 0 only): True on stderr, False never, None (the default) in a Jupyter
            notebook (a tqdm bar) or when stderr is a terminal.
        max_memory: refuse a run whose data order, model and activations are estimated (before anything is
            allocated) to need more bytes than this; None: no check.

    Raises:
        ConfigError: a bad setting, a run folder that cannot be written, an estimate past ``max_memory``. The
            message names the ``TrainConfig`` field (``TrainConfig: lr must be ...``, ``data['length']``,
            ``model_kwargs``) or the keyword of ``fit`` (``fit: stop_after must be ...``).
        TrainingDiverged: the loss became nan or inf; ``last.pt`` keeps the last good step.

    >>> import tempfile
    >>> cfg = TrainConfig("adding", model_kwargs={"channels": [4], "kernel_size": 2}, steps=2, batch_size=4,
    ...                   data={"length": 8, "train_size": 16, "test_size": 8})
    >>> summary = fit(cfg, tempfile.mkdtemp(), device="cpu")
    >>> summary["status"], summary["step"], sorted(summary["metrics"])
    ('finished', 2, ['test_mse'])
    """
    task = get_task(config.task)
    cfg = config.resolved()
    if stop_after is not None:
        int_in_range("fit", "stop_after", stop_after, 1, MAX_COUNT)
    if max_memory is not None:
        finite_number("fit", "max_memory", max_memory, positive=True)
    if resume:
        device = numerics.device_for_resume(cfg.device, device)
    ctx, dev = distributed.setup(device)
    try:
        cfg = replace(cfg, device=dev.type)
        with numerics.applied(cfg):
            return _Run(cfg, task, Path(out), ctx, dev, max_memory).run(resume, stop_after, progress)
    finally:
        distributed.teardown(ctx)


class TrainingDiverged(AtrousError):
    """The training loss became nan or inf; the run stopped without saving the diverged weights."""


#: bytes per training sample of an epoch's shuffled order (a Python list of int indices on every rank)
ORDER_BYTES_PER_SAMPLE = 48
#: the model's parameters, their gradients and two optimizer moments, in float32
PARAMETER_COPIES = 4
#: activations kept for backward, their gradients, and slack
ACTIVATION_COPIES = 3


def check_memory(cfg: TrainConfig, task: Task, local_batch: int, cap: int) -> None:
    """Refuse a run of ``cfg`` (resolved; ``local_batch`` samples a step in this process) whose memory,
    estimated before anything is allocated, exceeds ``cap`` bytes. Estimated: the epoch's shuffled order, what
    generating one sample needs, the model with its gradients and optimizer state, one batch's activations (the
    model runs on the meta device: no memory, no arithmetic). The message names the field that sets the part
    past the cap (``data['train_size']``, ``data['image']``, ``model_kwargs``, ...) and its estimate."""
    fix = "lower it or raise max_memory"
    data = cfg.data
    size = data.get("train_size")
    if isinstance(size, int):
        check_cap("TrainConfig", "data['train_size']", size, ORDER_BYTES_PER_SAMPLE * size, cap, "memory", fix)
    shape: tuple[int, ...] | None = None
    if task.sample is not None:
        option, shape, work = task.sample(data)
        field = f"data[{option!r}]"
        check_cap("TrainConfig", field, data[option], work + 4 * task.in_channels * math.prod(shape), cap,
                  "memory", f"that is what generating one sample needs; {fix}")
    rng = torch.get_rng_state()
    try:
        with torch.device("meta"):
            meta = _build(cfg, task)
    except AtrousError:
        raise
    except Exception:  # a builder that cannot run on meta: the real build decides
        return
    finally:
        torch.set_rng_state(rng)
    params = sum(p.numel() * p.element_size() for p in meta.parameters())
    check_cap("TrainConfig", "model_kwargs", dict(cfg.model_kwargs) or cfg.model, PARAMETER_COPIES * params,
              cap, "memory", f"that is the model with its gradients and optimizer state; {fix}")
    if shape is not None:
        batch = (local_batch, task.in_channels, *shape)
        used = ACTIVATION_COPIES * activation_bytes(meta, batch, example=torch.empty(batch, device="meta"))
        check_cap("TrainConfig", field, data[option], used, cap, "memory",
                  f"that is one batch of {local_batch} samples through the model; {fix}")


def _build(cfg: TrainConfig, task: Task) -> nn.Module:
    from atrous.models.recurrent import build

    return build(cfg.model, **model_kwargs(task, cfg.model, cfg.model_kwargs))


class _Run:
    def __init__(self, cfg: TrainConfig, task: Task, out: Path, ctx: distributed.Context,
                 dev: torch.device, max_memory: int | None = None) -> None:
        self.cfg, self.task, self.out, self.ctx, self.dev = cfg, task, out, ctx, dev
        assert cfg.batch_size is not None and cfg.epochs is not None
        if cfg.batch_size % ctx.world:
            raise ConfigError(f"TrainConfig: batch_size must be a multiple of the number of processes ({ctx.world}), "
                              f"got {cfg.batch_size}")
        self.local_batch = cfg.batch_size // ctx.world
        if max_memory is not None:
            check_memory(cfg, task, self.local_batch, max_memory)
        self.datasets = task.datasets(cfg.data)
        self.sampler = ResumableSampler(self.datasets["train"], ctx.world, ctx.rank, cfg.seed)
        # its own generator: creating a DataLoader iterator would otherwise draw from the global RNG
        self.loader = DataLoader(self.datasets["train"], self.local_batch, sampler=self.sampler,
                                 collate_fn=task.collate, generator=torch.Generator())
        self.steps_per_epoch = len(self.loader)
        self.total = cfg.epochs * self.steps_per_epoch if cfg.steps is None else \
            min(cfg.steps, cfg.epochs * self.steps_per_epoch)
        seed_everything(cfg.seed)
        self.model = self._build().to(dev)
        self.optimizer = _optimizer(cfg, self.model)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, cfg.lr_step, 0.1) if cfg.lr_step else None
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "best": None, "best_step": None,
                                      "log": [0.0, 0.0], "metrics": {}}
        self.headline = f"{task.eval_splits[0]}_{task.metric}"

    def _build(self) -> nn.Module:
        return _build(self.cfg, self.task)

    # ---- files ------------------------------------------------------------------------------------------

    def _open(self, resume: bool) -> None:
        metrics = self.out / "metrics.jsonl"
        if self.ctx.main:
            remove_stale_temporaries(self.out)  # what a killed save left behind
        if resume:
            ckpt = load_checkpoint(self.out / "last.pt", map_location="cpu", where="fit")
            if ckpt["world"] != self.ctx.world:
                raise ConfigError(f"fit: resume with as many processes as the run used ({ckpt['world']}), "
                                  f"got {self.ctx.world}")
            self.model.load_state_dict(ckpt["state_dict"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            self.state = ckpt["progress"]
            if self.state["step"] > self.total:
                raise ConfigError(f"TrainConfig: steps must be at least the {self.state['step']} steps already run, "
                                  f"got {self.cfg.steps}")
            set_rng_state(ckpt["rng"][self.ctx.rank])
            numerics.pin_paths(ckpt)
            if self.ctx.main:
                try:
                    with open(metrics, "r+b") as f:
                        f.truncate(ckpt["metrics_bytes"])  # drop lines written after the checkpoint
                except OSError as e:
                    raise ConfigError(f"fit: {str(metrics)!r} must exist and be writable to resume the run, got "
                                      f"{e.strerror or e}; it holds the run's history up to last.pt") from None
        else:
            if (self.out / "last.pt").exists():
                raise ConfigError(f"fit: out must not hold a run already, got {str(self.out)!r}; resume it with "
                                  f"out={str(self.out)!r}, resume=True or choose another out folder")
            seed_everything(self.cfg.seed + self.ctx.rank)  # every rank its own dropout stream
            if self.cfg.init_from is not None:
                self._init_from(Path(self.cfg.init_from))
            if self.ctx.main:
                try:
                    self.out.mkdir(parents=True, exist_ok=True)
                    atomic_write(self.out / "config.json", json.dumps(self.cfg.as_dict(), indent=2) + "\n")
                    atomic_write(metrics, "")
                except OSError as e:
                    raise ConfigError(f"fit: out must be a folder this process can write, got {str(self.out)!r} "
                                      f"({e.strerror or e})") from None
        if self.ctx.main:
            record_source(self.out, "resume" if resume else "start", self.state["step"])
        self.ctx.barrier()
        # line-buffered: `tail -f metrics.jsonl` follows a run (resume truncates to the checkpoint anyway)
        self.log = open(metrics, "a", buffering=1) if self.ctx.main else None

    def _init_from(self, path: Path) -> None:
        """Load the model weights of another run (``init_from``): same architecture, fresh optimizer."""
        file = path / "last.pt" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"TrainConfig: init_from must be a checkpoint file or a run folder holding last.pt, got "
                              f"{str(path)!r}")
        state = load_checkpoint(file, map_location="cpu", where="fit").get("state_dict")
        if not isinstance(state, dict):
            raise ConfigError(f"TrainConfig: init_from {str(file)!r} holds no model state_dict")
        try:
            self.model.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise ConfigError(f"TrainConfig: init_from {str(file)!r} does not fit this model ({self.cfg.model} with "
                              f"{dict(self.cfg.model_kwargs)}): {' '.join(first[:3])}") from None

    def _write(self, line: dict[str, Any]) -> None:
        if self.log is not None:
            try:
                self.log.write(json.dumps(line) + "\n")
            except OSError as e:
                raise self._metrics_failed(e) from None

    def _metrics_failed(self, error: OSError) -> ConfigError:
        """A metrics line that could not be written (a full disk): the run stops; ``last.pt`` is untouched, and a
        resume cuts the metrics back to it."""
        kept = (f"last.pt keeps the run up to its last checkpoint; resume with out={str(self.out)!r}, resume=True "
                "once it can be written" if (self.out / "last.pt").exists() else "no checkpoint was saved yet")
        return ConfigError(f"fit: {str(self.out / 'metrics.jsonl')!r} could not be written "
                           f"({error.strerror or error}); {kept}")

    def _payload(self) -> dict[str, Any]:
        return {"model": dict(self.model.__dict__["atrous_config"]),
                "state_dict": self.model.state_dict(), "config": self.cfg.as_dict(),
                "progress": json.loads(json.dumps(self.state)), "world": self.ctx.world}

    def _save_last(self) -> None:
        rngs = self.ctx.gather(rng_state())
        if self.log is not None:
            try:
                self.log.flush()
            except OSError as e:
                raise self._metrics_failed(e) from None
            payload = {**self._payload(), "optimizer": self.optimizer.state_dict(),
                       "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                       "rng": rngs, "metrics_bytes": self.log.tell(), "conv_paths": numerics.saved_paths()}
            save_checkpoint(self.out / "last.pt", payload)

    # ---- the loop ---------------------------------------------------------------------------------------

    def _evaluate(self, epoch: int) -> None:
        if self.ctx.main:
            batch = max(self.cfg.batch_size or 1, 128)
            metrics = evaluate(self.model, self.task, self.datasets, batch, self.dev)
            value = metrics[self.headline]
            best = self.state["best"]
            improved = best is None or (value > best if self.task.higher_is_better else value < best)
            if improved:
                self.state["best"], self.state["best_step"] = value, self.state["step"]
                save_checkpoint(self.out / "best.pt", {**self._payload(), "metrics": metrics})
            self.state["metrics"] = metrics
            self._write({"kind": "eval", "step": self.state["step"], "epoch": epoch, **metrics, "best": improved})
        self.ctx.barrier()

    def run(self, resume: bool, stop_after: int | None, show: bool | None) -> dict[str, Any]:
        self._open(resume)
        net: nn.Module = self.model
        if self.ctx.distributed:
            net = nn.parallel.DistributedDataParallel(self.model, device_ids=[self.dev] if self.dev.type == "cuda"
                                                      else None)
        bar = Progress(self.total, self.state["step"], enabled=show if self.ctx.main else False)
        st, cfg, ran, status, started = self.state, self.cfg, 0, "finished", time.monotonic()
        assert cfg.clip is not None
        done = False
        try:
            with _StopSignal() as stopper:
                while st["step"] < self.total and status == "finished":
                    self.sampler.start(st["epoch"], st["batch"] * self.local_batch)
                    for raw in self.loader:
                        loss = train_step(net, self.task, batch_to(tuple(raw), self.dev), self.optimizer, cfg.clip)
                        value = float(loss)
                        diverged = not math.isfinite(value)
                        if self.ctx.distributed:
                            diverged = self.ctx.sum([float(diverged)], self.dev)[0] > 0
                        if diverged:
                            self._diverged(value)
                        st["step"] += 1
                        st["batch"] += 1
                        ran += 1
                        st["log"][0] += value
                        st["log"][1] += 1
                        step, epoch = st["step"], st["epoch"] + 1
                        epoch_done, finished = st["batch"] >= self.steps_per_epoch, step >= self.total
                        if step % cfg.log_every == 0 or epoch_done or finished:
                            total, count = self.ctx.sum(st["log"], self.dev)
                            st["log"] = [0.0, 0.0]
                            self._write({"kind": "train", "step": step, "epoch": epoch, "loss": total / count,
                                         "lr": self.optimizer.param_groups[0]["lr"],
                                         "time": round(time.monotonic() - started, 3)})
                            bar.update(step, epoch=epoch, loss=total / count)
                        if epoch_done or finished or (cfg.eval_every and step % cfg.eval_every == 0):
                            self._evaluate(epoch)
                            bar.message(f"step {step}  epoch {epoch}  " + "  ".join(
                                f"{k} {v:.4g}" for k, v in st["metrics"].items()))
                        if epoch_done:
                            st["epoch"], st["batch"] = epoch, 0
                            if self.scheduler is not None:
                                self.scheduler.step()
                        asked = stopper.requested or (stop_after is not None and ran >= stop_after)
                        if self.ctx.distributed:
                            asked = self.ctx.sum([float(asked)], self.dev)[0] > 0
                        if epoch_done or finished or asked or (cfg.checkpoint_every and
                                                                step % cfg.checkpoint_every == 0):
                            self._save_last()
                        if finished:
                            break
                        if asked:
                            status = "stopped"
                            break
            done = True
        finally:
            bar.close()
            if self.log is not None:
                try:
                    self.log.close()
                except OSError as e:  # the flush of a line that a full disk refused
                    if done:
                        raise self._metrics_failed(e) from None
        return self._summary(status)

    def _diverged(self, value: float) -> None:
        """Stop: the weights after this step are not finite, so nothing more is saved."""
        kept = self.out / "last.pt"
        saved = (f"{str(kept)!r} keeps the last good checkpoint; start a new run from it with "
                 f"init_from={str(kept)!r} and a lower lr or a clip" if kept.exists()
                 else "no checkpoint was saved yet; lower lr or set clip")
        raise TrainingDiverged(f"fit: the loss must stay finite, got {value} at step {self.state['step'] + 1}; "
                               f"{saved}")

    def _summary(self, status: str) -> dict[str, Any]:
        summary = {
            "task": self.task.name, "model": dict(self.model.__dict__["atrous_config"]),
            "params": sum(p.numel() for p in self.model.parameters()), "status": status,
            "step": self.state["step"], "steps": self.total, "epoch": self.state["epoch"],
            "metrics": self.state["metrics"],
            "best": {"step": self.state["best_step"], self.headline: self.state["best"]},
            "out": str(self.out), "world": self.ctx.world,
        }
        if self.ctx.main:
            try:
                atomic_write(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
            except OSError as e:
                raise ConfigError(f"fit: {str(self.out / 'summary.json')!r} could not be written "
                                  f"({e.strerror or e}); the run's last.pt and metrics are complete") from None
        return summary
