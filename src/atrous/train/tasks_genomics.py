"""The genomics task of ``atrous train`` (docs/train.md, "DNA"): long-range enhancer-promoter regulation.

* ``enhancer``: :class:`~atrous.data.dna.EnhancerPromoter`; the model maps one-hot DNA ``(B, 4, L)`` to
  activity logits ``(B, 1, L')`` and the loss (binary cross-entropy) reads the logit **at the promoter position**
  ``p`` (index ``p * L' // L``: ``p`` itself for a base-pair-resolution model, ``p // 2 ** pools`` for
  ``pooled_tower``). A model whose receptive field at ``p`` does not reach the enhancer scores at most 0.75.

Models: ``spliceai`` as a dilated residual tower (one unit per group, kernel 15 then 3, dilations 1, 2, ..., 128,
no crop; the default), ``undilated_tower`` (the same depth at dilation 1) and ``pooled_tower`` (max-pools instead
of dilations), all 16 channels wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.train.tasks import Batch, Scores, Task, register_task, sequence_sample

__all__ = ["ENHANCER", "TOWER_DILATIONS", "promoter_logits"]

#: the dilated tower's schedule: 8 residual units of two convolutions, RF 1 + 2 * 14 + 4 (2^8 - 2) = 1,045
TOWER_DILATIONS = [2 ** i for i in range(8)]
#: the kernel of the first unit (motif-sized: with k = 3 there too, 600 steps never left the 0.75 ceiling) and of
#: the others
FIRST_KERNEL, KERNEL = 15, 3


def promoter_logits(out: Tensor, position: Tensor, length: int) -> Tensor:
    """The logits ``(B,)`` of channel 0 of ``out`` ``(B, C, L')`` at each sample's ``position`` in an input of
    ``length`` bp: index ``position * L' // length``."""
    rows = torch.arange(out.shape[0], device=out.device)
    return out[rows, 0, position * out.shape[-1] // length]


def _logits(out: Tensor, batch: Batch) -> Tensor:
    return promoter_logits(out, batch[2], batch[0].shape[-1])


def _loss(out: Tensor, batch: Batch) -> Tensor:
    return F.binary_cross_entropy_with_logits(_logits(out, batch), batch[1].to(out.dtype))


def _scores(out: Tensor, batch: Batch) -> Scores:
    logits, y = _logits(out, batch), batch[1]
    return {"accuracy": (float(((logits > 0).long() == y).sum()), len(y)),
            "loss": (float(F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="sum")),
                     len(y))}


def _data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.dna import EnhancerPromoter

    return {split: EnhancerPromoter(opts["length"], opts[f"{split}_size"], split, opts["data_seed"],
                                    opts["min_distance"], opts["max_distance"], opts["distance"], opts["shift"],
                                    opts.get("motifs", "jaspar"))
            for split in ("train", "test")}


_WIDTH = {"in_channels": 4, "out_channels": 1, "channels": 16}

ENHANCER = register_task(Task(
    "enhancer", "enhancer-promoter: is the promoter at p active? only with an enhancer within range upstream",
    _data, 4, 1, _loss, _scores, "accuracy", True, ("test",),
    {"spliceai": {**_WIDTH, "kernel_sizes": [FIRST_KERNEL] + [KERNEL] * (len(TOWER_DILATIONS) - 1),
                  "dilations": TOWER_DILATIONS, "units_per_group": 1, "crop": False},
     "undilated_tower": {**_WIDTH, "depth": len(TOWER_DILATIONS), "first_kernel": FIRST_KERNEL},
     "pooled_tower": {**_WIDTH, "depth": len(TOWER_DILATIONS), "pools": len(TOWER_DILATIONS) - 1,
                      "first_kernel": FIRST_KERNEL}},
    # the settings of experiments/genomics/distance.py
    # one pass over 19,200 fresh sequences (1,200 steps): 3 passes over 3,200 left the tower short beyond 50 bp
    {"epochs": 1, "batch_size": 16, "lr": 5e-3, "optimizer": "adam", "clip": 1.0, "lr_step": None},
    {"length": 512, "min_distance": 20, "max_distance": 300, "distance": None, "shift": 64,
     "train_size": 19_200, "test_size": 512, "motifs": "jaspar"},
    model_names=("spliceai", "undilated_tower", "pooled_tower"), sample=sequence_sample(),
))
