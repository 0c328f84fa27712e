"""Segmentation tasks for ``atrous train`` (docs/train.md, "Segmentation"): dashed lanes and real nuclei.

* ``lanes``: :class:`~atrous.data.segmentation.Lanes`; segment whole lanes (gaps included) and not the
  look-alike isolated dashes. Scores: ``iou`` of the lane class, ``gap_recall`` (gap pixels called lane: needs
  a tall receptive field), ``dash_recall``, ``distractor_fp`` (distractor pixels called lane).
* ``nuclei``: :class:`~atrous.data.segmentation.NucleiTiles`; nuclei vs background on the stardist image.
  Scores: ``iou``, ``object_recall`` (nuclei with at least half their pixels found), ``small_recall`` (the
  same for nuclei smaller than :data:`SMALL_NUCLEUS` pixels in the image), and ``object_iou`` /
  ``small_object_iou`` (the mean IoU of each nucleus with the prediction around it: :func:`object_iou_counts`).

Both train the registry's ``deeplabv3`` at output stride 8 with narrow stages; ``--model-arg`` switches the head
(``head=aspp``, ``cascade``, ``conv``), the backbone's dilation (``dilated=false``) and the decoder
(``decoder=true``): the four settings compared in docs/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.train.tasks import Batch, Scores, Task, image_sample, register_task

__all__ = ["LANES", "NUCLEI", "SEG_MODEL", "SMALL_NUCLEUS", "iou_counts", "object_iou_counts", "object_recall_counts"]

#: the background weighs less in the loss (lanes are ~6 % of the pixels, nuclei ~25 %)
_WEIGHTS = (0.5, 1.0)

#: nuclei below this many pixels (in the whole image) are "small"; the image's median nucleus has 440
SMALL_NUCLEUS = 250

#: the segmentation model at output stride 8 with stages narrow enough for a CPU: ASPP rates 2, 4, 7 span 5, 9
#: and 15 feature pixels, inside the 16 x 16 maps of 128-px images (lanes, nuclei tiles) and the 16 x 64 strip
SEG_MODEL: dict[str, Any] = {"channels": [16, 32, 48, 64], "output_stride": 8, "aspp_channels": 32,
                             "rates": [2, 4, 7]}


def iou_counts(pred: Tensor, target: Tensor) -> tuple[float, int]:
    """(intersection, union) of the foreground: evaluation sums both over the split, so the reported ``iou``
    is the dataset's IoU, not a mean of per-image ratios."""
    inter = int((pred & target).sum())
    return float(inter), int((pred | target).sum())


def object_recall_counts(pred: Tensor, instances: Tensor, keep: Tensor | None = None) -> tuple[float, int]:
    """(objects with at least half of their pixels predicted, objects) over a batch of instance maps
    ``(B, H, W)``; ``keep`` (by id, ``(max_id + 1,)`` bool) restricts the objects counted."""
    found, total = 0, 0
    for p, ids in zip(pred, instances, strict=True):
        flat = ids.reshape(-1)
        size = torch.bincount(flat, minlength=2).double()
        hit = torch.bincount(flat, weights=p.reshape(-1).double(), minlength=2)
        present = size > 0
        present[0] = False
        if keep is not None:
            present &= torch.nn.functional.pad(keep, (0, max(0, len(present) - len(keep))))[:len(present)]
        found += int(((hit >= 0.5 * size) & present).sum())
        total += int(present.sum())
    return float(found), total


def object_iou_counts(pred: Tensor, instances: Tensor, keep: Tensor | None = None,
                      margin: int = 3) -> tuple[float, int]:
    """(sum of per-object IoUs, objects) over a batch of instance maps ``(B, H, W)``: each object against the
    predicted foreground inside its bounding box grown by ``margin`` pixels, so a blob that is too large, too
    small or shifted scores below 1 even when it covers the object (unlike ``object_recall``)."""
    total, count = 0.0, 0
    for p, ids in zip(pred, instances, strict=True):
        for k in ids.unique().tolist():
            if k == 0 or (keep is not None and (k >= len(keep) or not bool(keep[k]))):
                continue
            rows, cols = (ids == k).nonzero(as_tuple=True)
            r0, r1 = max(int(rows.min()) - margin, 0), int(rows.max()) + margin + 1
            c0, c1 = max(int(cols.min()) - margin, 0), int(cols.max()) + margin + 1
            truth, found = ids[r0:r1, c0:c1] == k, p[r0:r1, c0:c1]
            total += float((truth & found).sum()) / float((truth | found).sum())
            count += 1
    return total, count


def _loss(out: Tensor, batch: Batch) -> Tensor:
    return F.cross_entropy(out, batch[1], weight=out.new_tensor(_WEIGHTS))


def _common_scores(out: Tensor, batch: Batch) -> tuple[Tensor, Scores]:
    y = batch[1]
    pred = out.argmax(dim=1)
    return pred, {"iou": iou_counts(pred == 1, y == 1),
                  "accuracy": (float((pred == y).sum()), y.numel()),
                  "loss": (float(F.cross_entropy(out, y, reduction="sum")), y.numel())}


def _lane_scores(out: Tensor, batch: Batch) -> Scores:
    from atrous.data.segmentation import LANE_REGIONS

    pred, scores = _common_scores(out, batch)
    lane, region = pred == 1, batch[2]
    for name, code in (("gap_recall", "gap"), ("dash_recall", "dash"), ("distractor_fp", "distractor")):
        where = region == LANE_REGIONS[code]
        scores[name] = (float(lane[where].sum()), int(where.sum()))
    return scores


def _small_ids() -> Tensor:
    from atrous.data.segmentation import load_nuclei

    ids = torch.from_numpy(load_nuclei()[1]).reshape(-1)
    size = torch.bincount(ids)
    return (size > 0) & (size < SMALL_NUCLEUS)


def _nuclei_scores(out: Tensor, batch: Batch) -> Scores:
    pred, scores = _common_scores(out, batch)
    found = pred == 1
    scores["object_recall"] = object_recall_counts(found, batch[2])
    small = _small_ids().to(found.device)
    scores["small_recall"] = object_recall_counts(found, batch[2], small)
    scores["object_iou"] = object_iou_counts(found, batch[2])
    scores["small_object_iou"] = object_iou_counts(found, batch[2], small)
    return scores


def _lanes_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.segmentation import Lanes

    return {split: Lanes(opts["image"], opts[f"{split}_size"], split, opts["data_seed"], opts["noise"],
                         opts["dash"], opts["gap"]) for split in ("train", "test")}


def _nuclei_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.segmentation import NucleiTiles

    return {split: NucleiTiles(opts["tile"], opts["train_size"], split, opts["data_seed"])
            for split in ("train", "test")}


LANES = register_task(Task(
    "lanes", "segment dashed lanes (gaps included) among look-alike isolated dashes: needs a tall receptive field",
    _lanes_data, 1, 2, _loss, _lane_scores, "iou", True, ("test",),
    {"deeplabv3": SEG_MODEL},
    {"epochs": 2, "batch_size": 16, "lr": 3e-3, "optimizer": "adam", "clip": None, "lr_step": None},
    {"image": 128, "noise": 0.3, "dash": 8, "gap": 40, "train_size": 3_200, "test_size": 200},
    model_names=("deeplabv3",), sample=image_sample("image"),
))

NUCLEI = register_task(Task(
    "nuclei", "nuclei vs background on stardist's bundled 512x512 fluorescence image (bottom 128 rows: test)",
    _nuclei_data, 1, 2, _loss, _nuclei_scores, "iou", True, ("test",),
    {"deeplabv3": SEG_MODEL},
    {"epochs": 2, "batch_size": 16, "lr": 3e-3, "optimizer": "adam", "clip": None, "lr_step": None},
    {"tile": 128, "train_size": 3_200},
    model_names=("deeplabv3",), sample=image_sample("tile"),
))
