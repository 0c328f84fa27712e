"""Graph tasks: node classification where the label lives ``d`` hops away (``hops``) and the karate club.

Registered on import (``FAMILIES`` in :mod:`atrous.train.tasks`). A batch is one graph, ``(x, edge_index, y,
mask)`` (:mod:`atrous.data.graphs`); the model is called as ``model(x, edge_index)`` and returns ``(N, C)``
logits; the loss and the metrics count the nodes of ``mask`` only. The models are the registry's
``dilated_gnn`` and its one-hop baseline ``gcn``, the same depth and width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.train.tasks import Batch, Scores, Task, register_task

__all__ = ["GRAPH_MODELS", "HOPS", "KARATE"]

GRAPH_MODELS = ("dilated_gnn", "gcn")


def _forward(model: Any, batch: Batch) -> Tensor:
    out: Tensor = model(batch[0], batch[1])
    return out


def _node_loss(out: Tensor, batch: Batch) -> Tensor:
    y, mask = batch[2], batch[3]
    if not bool(mask.any()):  # nothing to score: a zero that still reaches every parameter
        return out.sum() * 0.0
    return F.cross_entropy(out[mask], y[mask])


def _node_scores(out: Tensor, batch: Batch) -> Scores:
    logits, y = out[batch[3]], batch[2][batch[3]]
    return {"accuracy": (float((logits.argmax(dim=1) == y).sum()), len(y)),
            "loss": (float(F.cross_entropy(logits, y, reduction="sum")), len(y))}


def _collate(items: list[Any]) -> Batch:
    from atrous.data.graphs import collate_graphs

    return collate_graphs(items)


def _hops_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.graphs import HopRings

    return {split: HopRings(opts["d"], opts["nodes"], opts[f"{split}_size"], split, opts["data_seed"],
                            opts["degree"]) for split in ("train", "test")}


def _karate_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    from atrous.data.graphs import KarateClub

    return {split: KarateClub(split, opts["data_seed"], opts["train_size"]) for split in ("train", "test")}


def _hops_sample(opts: Mapping[str, Any]) -> tuple[str, tuple[int, ...], int]:
    """A graph of ``nodes`` nodes; the exact-hop search holds a few ``nodes x nodes`` boolean matrices and one
    ``nodes x edges`` (``degree`` edges a node), and the dataset keeps each graph it made (features, edges,
    labels)."""
    n, degree = opts["nodes"], max(float(opts["degree"]), 1.0)
    kept = (opts["train_size"] + opts["test_size"]) * n * (4 + 16 * degree + 9)
    return "nodes", (n,), int(n * n * (4 + degree)) + int(kept)


HOPS = register_task(Task(
    "hops", "node classification: the label is the sign of the mean feature of the nodes exactly d hops away "
    "(random geometric graphs; --data-arg d=D)",
    _hops_data, 1, 2, _node_loss, _node_scores, "accuracy", True, ("test",),
    # two layers of 32; the dilated network's first layer reads the d-ring: pass --model-arg dilations=D,1
    # with --data-arg d=D (the defaults match d = 3)
    {"dilated_gnn": {"hidden_channels": 32, "dilations": [3, 1]},
     "gcn": {"hidden_channels": 32, "num_layers": 2}},
    {"epochs": 10, "batch_size": 1, "lr": 1e-2, "optimizer": "adam", "clip": None, "lr_step": None},
    {"d": 3, "nodes": 200, "train_size": 32, "test_size": 8, "degree": 6.0},
    _collate, _forward, GRAPH_MODELS, _hops_sample,
))

KARATE = register_task(Task(
    "karate", "Zachary's karate club (networkx): the two factions from 4 labelled members (transductive)",
    _karate_data, 34, 2, _node_loss, _node_scores, "accuracy", True, ("test",),
    {"dilated_gnn": {"hidden_channels": 16, "dilations": [1, 2]},
     "gcn": {"hidden_channels": 16, "num_layers": 2}},
    {"epochs": 100, "batch_size": 1, "lr": 1e-2, "optimizer": "adam", "clip": None, "lr_step": None},
    {"train_size": 4},
    _collate, _forward, GRAPH_MODELS,
))
