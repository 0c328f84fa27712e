"""Streaming inference for causal dilated stacks: explicit state in, new state out.

>>> import torch
>>> from atrous.models import create_model
>>> from atrous.stream import init_state, step
>>> model = create_model("tcn").eval()
>>> state = init_state(model, batch_size=4)
>>> y, state = step(model, torch.randn(4, 1, 1), state)     # one sample of four streams
>>> y.shape
torch.Size([4, 32, 1])

A model streams when every module in it has a *lowering* (:func:`register_lowering`): a function, registered next
to the module's class, that describes it as a short instruction list (:mod:`atrous.stream.ir`). Every executor
(:func:`step`, and the engines of :class:`StreamingModule`) runs that list. Lowerings exist for
:class:`~atrous.nn.CausalConv1d` and :class:`~atrous.nn.DilatedConv1d` with causal padding (each keeps its last
``(k - 1) d`` inputs), ``nn.Conv1d`` with causal padding, pointwise activations, ``Dropout`` and ``BatchNorm1d``
in eval mode, :class:`~atrous.nn.TemporalBlock` (weight norm included), :class:`~atrous.nn.GatedResidualBlock`
(conditioned too), the ``tcn`` and ``wavenet`` models, pytorch-tcn's ``TCN`` and ``nn.Sequential`` of these.
Anything else, or a layer that looks ahead, raises :class:`~atrous.errors.UnsupportedOpError` naming the layer.
"""

from atrous.stream import _builtin as _builtin  # lowerings of torch's own modules
from atrous.stream import _pytorch_tcn as _pytorch_tcn  # lowerings of pytorch-tcn's classes, by name
from atrous.stream._native import available as compiled_available
from atrous.stream.functional import State, init_state, state_dict_view, state_slots, step
from atrous.stream.ir import Builder, Program, Slot, lower, register_lowering
from atrous.stream.module import StreamingModule, StreamStep

__all__ = [
    "Builder", "Program", "Slot", "State", "StreamStep", "StreamingModule", "compiled_available", "init_state", "lower",
    "register_lowering", "state_dict_view", "state_slots", "step",
]
