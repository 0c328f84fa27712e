"""Streaming inference for causal dilated stacks: explicit state in, new state out.

>>> import torch
>>> from atrous.models import create_model
>>> from atrous.stream import init_state, step
>>> model = create_model("tcn").eval()
>>> state = init_state(model, batch_size=4)
>>> y, state = step(model, torch.randn(4, 1, 1), state)     # one sample of four streams
>>> y.shape
torch.Size([4, 32, 1])

Supported: :class:`~atrous.nn.CausalConv1d` and :class:`~atrous.nn.DilatedConv1d` with causal padding
(each keeps its last ``(k - 1) d`` inputs), ``nn.Conv1d`` with kernel 1 (or causal left padding of 0 at k=1),
pointwise activations, ``Dropout`` and ``BatchNorm1d`` in eval mode, :class:`~atrous.nn.TemporalBlock` (weight
norm included), :class:`~atrous.nn.GatedResidualBlock` without conditioning, the ``tcn`` and ``wavenet`` models
and ``nn.Sequential`` of these. Anything else, or a layer that looks ahead, raises
:class:`~atrous.errors.UnsupportedOpError` naming the layer.
"""

from atrous.stream._plan import Slot
from atrous.stream.functional import State, init_state, state_dict_view, state_slots, step
from atrous.stream.module import StreamingModule, StreamStep

__all__ = ["Slot", "State", "StreamStep", "StreamingModule", "init_state", "state_dict_view", "state_slots", "step"]
