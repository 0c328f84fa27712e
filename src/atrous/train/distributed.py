"""Several processes: ``torchrun --nproc-per-node N -m atrous train ...`` runs DistributedDataParallel.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them the run
is one plain process. The backend is gloo on CPU and nccl on CUDA (one GPU per local rank). Rank 0 writes
the metrics and checkpoints; every rank reads the same files when resuming (a shared filesystem).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from atrous.errors import bad

__all__ = ["Context", "resolve_device", "setup", "teardown"]


@dataclass(frozen=True)
class Context:
    """Where this process stands in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Sum ``values`` over the processes (the identity in one process)."""
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when available, else CPU; a bare ``cuda`` becomes ``cuda:LOCAL_RANK``."""
    try:
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           "cpu" if device == "auto" else device)
    except (RuntimeError, TypeError):
        raise bad("fit", "device", "a torch device such as cpu, cuda or cuda:1 (or auto)", device) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise bad("fit", "device", "available", device, "this machine has no CUDA device; use device='cpu'")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def setup(device: str) -> tuple[Context, torch.device]:
    """Join the process group when torchrun started this process; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(), resolve_device(device)
    ctx = Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    dev = resolve_device(device, ctx.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return ctx, dev


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        # every rank leaves together: a rank that tears gloo down while rank 0 still writes its files and talks
        # to the store was seen to abort ("terminate called without an active exception")
        dist.barrier()
        dist.destroy_process_group()
