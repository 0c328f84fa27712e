"""Typed errors. Every message reads ``"<where>: <arg> must be <rule>, got <value!r>"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self


class AtrousError(Exception):
    """Base class of every error atrous raises on purpose. Its message reads ``"<where>: <detail>"``, where
    ``where`` is the public entry point that was called."""

    @property
    def where(self) -> str:
        """The entry point the message names (its text before the first ``": "``)."""
        return str(self).partition(": ")[0]

    @property
    def detail(self) -> str:
        """The message without its entry point."""
        where, sep, detail = str(self).partition(": ")
        return detail if sep else where

    def at(self, where: str) -> Self:
        """The same error said from ``where``: an entry point that called the code that raised it.

        >>> bad("Layer", "dilation", "a positive int", 0).at("dilated_conv1d")
        ConfigError('dilated_conv1d: dilation must be a positive int, got 0')
        """
        return type(self)(f"{where}: {self.detail}")


class ConfigError(AtrousError, ValueError):
    """An argument breaks a documented rule (a dilation of 0, an unknown padding word, ...)."""


class ShapeError(AtrousError, ValueError):
    """A tensor or feature-map shape cannot work (an input shorter than a layer's span, ...)."""


class UnsupportedOpError(AtrousError, NotImplementedError):
    """An operation that atrous cannot analyse exactly."""


def bad(where: str, arg: str, rule: str, value: object, fix: str = "") -> ConfigError:
    """Build a :class:`ConfigError` with the house message format."""
    msg = f"{where}: {arg} must be {rule}, got {value!r}"
    return ConfigError(f"{msg}; {fix}" if fix else msg)
