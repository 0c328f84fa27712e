"""Vision tasks for ``atrous train`` (docs/train.md): receptive field vs object scale, and gridding.

* ``object_scale``: :class:`~atrous.data.shapes.MarkPairs`; the model's logits are read at the object's
  centre, so accuracy rises from chance (25 %) to near 100 % as the receptive field passes the object size.
* ``gridding``: :class:`~atrous.data.shapes.TinyShapes`, a per-pixel segmentation whose labels need each
  pixel's 8 neighbours, which a ``2, 2, 2`` stack never reads; its scores include the checkerboard energy of
  the logits (:func:`~atrous.data.shapes.checkerboard_energy` at period 2).

Both train :class:`~atrous.models.small_cnn.DilatedCNN` (``dilated_cnn``); ``--model-arg rates=2,2,2`` and
``--model-arg smoothed=true`` change its schedule, ``--data-arg`` the data (``object_size=21``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.train.tasks import Batch, Scores, Task, image_sample, register_task

__all__ = ["GRIDDING", "OBJECT_SCALE", "centre_logits"]


def centre_logits(out: Tensor, centre: Tensor) -> Tensor:
    """The logits ``(B, C)`` of a dense output ``(B, C, H, W)`` at each sample's ``centre`` ``(B, 2)`` (row,
    column)."""
    rows = torch.arange(out.shape[0], device=out.device)
    return out[rows, :, centre[:, 0], centre[:, 1]]


def _object_loss(out: Tensor, batch: Batch) -> Tensor:
    return F.cross_entropy(centre_logits(out, batch[2]), batch[1])


def _object_scores(out: Tensor, batch: Batch) -> Scores:
    logits, y = centre_logits(out, batch[2]), batch[1]
    return {"accuracy": (float((logits.argmax(dim=1) == y).sum()), len(y)),
            "loss": (float(F.cross_entropy(logits, y, reduction="sum")), len(y))}


def _object_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.shapes import MarkPairs

    return {split: MarkPairs(opts["object_size"], opts["image"], opts[f"{split}_size"], split, opts["data_seed"],
                             opts["noise"]) for split in ("train", "test")}


#: background weighs less in the loss: it is ~85 % of the pixels, and at full weight training sits for hundreds of
#: steps on "background, else 4" (the best a gridding stack can do) before it learns the neighbour counts
SHAPE_WEIGHTS = (0.2, 1.0, 1.0, 1.0, 1.0)


def _shapes_loss(out: Tensor, batch: Batch) -> Tensor:
    return F.cross_entropy(out, batch[1], weight=out.new_tensor(SHAPE_WEIGHTS))


def _shapes_scores(out: Tensor, batch: Batch) -> Scores:
    from atrous.data.shapes import checkerboard_energy

    y = batch[1]
    right = out.argmax(dim=1) == y
    fg = y > 0
    energy = checkerboard_energy(out.detach(), 2)
    return {"fg_accuracy": (float(right[fg].sum()), int(fg.sum())),
            "accuracy": (float(right.sum()), y.numel()),
            "loss": (float(F.cross_entropy(out, y, reduction="sum")), y.numel()),
            "checkerboard": (float(energy.sum()), energy.numel())}


def _shapes_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.shapes import TinyShapes

    return {split: TinyShapes(opts["image"], opts[f"{split}_size"], split, opts["data_seed"], opts["noise"],
                              opts["density"]) for split in ("train", "test")}



OBJECT_SCALE = register_task(Task(
    "object_scale", "receptive field vs object scale: orientation of two dots size-1 apart, read at their centre",
    _object_data, 1, 4, _object_loss, _object_scores, "accuracy", True, ("test",),
    # rates 1, 1, d, d are hole-free for d <= 5: RF 5 + 4d (d = 2: 13, the default object size)
    {"dilated_cnn": {"width": 8, "rates": [1, 1, 2, 2]}},
    # 2 epochs of 100 steps: the settings of experiments/vision/rf_sweep.py
    {"epochs": 2, "batch_size": 32, "lr": 3e-3, "optimizer": "adam", "clip": None, "lr_step": None},
    {"object_size": 13, "image": 28, "noise": 0.2, "train_size": 3_200, "test_size": 500},
    model_names=("dilated_cnn",), sample=image_sample("image"),
))

GRIDDING = register_task(Task(
    "gridding", "gridding: label each pixel with the size (1-4) of the tiny shape it is on; needs offset-1 pixels",
    _shapes_data, 1, 5, _shapes_loss, _shapes_scores, "fg_accuracy", True, ("test",),
    {"dilated_cnn": {"width": 16, "rates": [1, 2, 5]}},
    # 4 epochs of 100 steps: the settings of experiments/vision/gridding.py
    {"epochs": 4, "batch_size": 32, "lr": 1e-2, "optimizer": "adam", "clip": None, "lr_step": None},
    {"image": 24, "noise": 0.2, "density": 0.75, "train_size": 3_200, "test_size": 500},
    model_names=("dilated_cnn",), sample=image_sample("image"),
))
