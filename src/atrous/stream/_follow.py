"""When the compiled and numpy engines re-copy the model's weights.

By default, after ``load_state_dict`` on the model or any of its submodules and after the ``step`` of an optimizer
that holds any of its parameters (hooks: one attribute test per step). With ``versions=True``, also after any
other in-place change of a parameter or buffer (tensor versions compared every step: about 0.1-0.2 us per
tensor, 10-20 us for a 14-level pytorch-tcn TCN on this machine under load).
Changes through ``.data`` or newly assigned ``Parameter`` objects are seen by neither: call ``refresh()``.
"""

from __future__ import annotations

import operator
import weakref
from typing import Any

from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

_version = operator.attrgetter("_version")
_LIVE: weakref.WeakSet[Follow] = weakref.WeakSet()
_hooked = False


def _after_optimizer_step(optimizer: Any, *_: Any) -> None:
    stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for follow in list(_LIVE):
        if not stepped.isdisjoint(follow.params):
            follow.dirty = True


class Follow:
    """``changed()`` is true once after the model's weights may have changed."""

    def __init__(self, model: nn.Module, versions: bool = False) -> None:
        global _hooked
        self.dirty = False
        self.versions = versions
        self.params = {id(p) for p in model.parameters()}
        self._watch = [*model.parameters(), *model.buffers()] if versions else []
        self._seen = list(map(_version, self._watch))
        ref = weakref.ref(self)

        def mark(*_: Any) -> None:
            follow = ref()
            if follow is not None:
                follow.dirty = True

        self._handles = [m.register_load_state_dict_post_hook(mark)  # type: ignore[no-untyped-call]
                         for m in model.modules()]
        _LIVE.add(self)
        if not _hooked:
            register_optimizer_step_post_hook(_after_optimizer_step)
            _hooked = True

    def changed(self) -> bool:
        if self.versions:
            seen = list(map(_version, self._watch))
            if seen != self._seen:
                self._seen, self.dirty = seen, True
        dirty, self.dirty = self.dirty, False
        return dirty

    def seen(self) -> None:
        """The current weights are copied: forget earlier changes."""
        self.dirty = False
        if self.versions:
            self._seen = list(map(_version, self._watch))

    def __del__(self) -> None:
        for handle in getattr(self, "_handles", []):
            handle.remove()
