"""Recurrent baselines (``torch.nn.LSTM`` / ``torch.nn.GRU``) with the sequence models' interface.

They take ``(B, C, L)`` and return ``(B, out_channels, L)`` like ``tcn``, so a training task can swap one for
the other. They are *not* in the model registry: every registered model promises a finite receptive field that
``receptive_field()`` states and the gradient support confirms (the registry tests), and a recurrent network's output
at step ``t`` depends on every input up to ``t``. :func:`create_recurrent` builds them with the same
``atrous_config`` record as :func:`~atrous.models.create_model`, and :func:`build` dispatches between the two.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from atrous.errors import bad
from atrous.models._registry import create_model

__all__ = ["GRU", "LSTM", "RECURRENT", "build", "create_recurrent"]


class _Recurrent(nn.Module):
    cell: type[nn.LSTM] | type[nn.GRU]

    def __init__(self, in_channels: int = 1, hidden_size: int = 128, num_layers: int = 1, out_channels: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("hidden_size", hidden_size),
                           ("num_layers", num_layers), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(where, arg, "a positive int", value)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise bad(where, "dropout", "a float in [0, 1)", dropout)
        self.rnn = self.cell(in_channels, hidden_size, num_layers, batch_first=True,
                             dropout=float(dropout) if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        h, _ = self.rnn(x.transpose(1, 2))
        out: Tensor = self.head(h).transpose(1, 2)
        return out


class LSTM(_Recurrent):
    """``torch.nn.LSTM`` (batch first) and a linear head applied at every step.

    Args:
        in_channels: input features per step.
        hidden_size: LSTM width.
        num_layers: stacked LSTM layers.
        out_channels: outputs per step.
        dropout: between stacked layers (ignored with one layer).

    Shape:
        ``(B, in_channels, L) -> (B, out_channels, L)``; causal, unbounded lookback.

    >>> import torch
    >>> LSTM(2, 16, out_channels=1)(torch.randn(3, 2, 7)).shape
    torch.Size([3, 1, 7])
    """

    cell = nn.LSTM


class GRU(_Recurrent):
    """``torch.nn.GRU`` (batch first) and a linear head applied at every step; arguments as :class:`LSTM`.

    >>> import torch
    >>> GRU(1, 8, out_channels=10)(torch.randn(2, 1, 5)).shape
    torch.Size([2, 10, 5])
    """

    cell = nn.GRU


#: the recurrent baselines by name
RECURRENT: dict[str, type[_Recurrent]] = {"lstm": LSTM, "gru": GRU}


def create_recurrent(name: str, **kwargs: Any) -> nn.Module:
    """Build ``"lstm"`` or ``"gru"`` and record ``atrous_config`` as :func:`~atrous.models.create_model` does."""
    if name not in RECURRENT:
        raise bad("create_recurrent", "name", f"one of {', '.join(RECURRENT)}", name)
    allowed = list(inspect.signature(RECURRENT[name]).parameters)
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise bad("create_recurrent", "argument", f"one of {', '.join(allowed)} for {name!r}", unknown[0])
    model = RECURRENT[name](**kwargs)
    model.atrous_config = {"name": name, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    return model


def build(name: str, **kwargs: Any) -> nn.Module:
    """A recurrent baseline or any registered model, by name; rebuild a saved one with ``build(**config)``.

    >>> build("lstm", hidden_size=4).atrous_config
    {'name': 'lstm', 'kwargs': {'hidden_size': 4}}
    >>> build("tcn", channels=[4]).atrous_config["name"]
    'tcn'
    """
    return create_recurrent(name, **kwargs) if name in RECURRENT else create_model(name, **kwargs)
