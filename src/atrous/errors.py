"""Typed errors. Every message reads ``"<where>: <arg> must be <rule>, got <value!r>"``."""

from __future__ import annotations


class AtrousError(Exception):
    """Base class of every error atrous raises on purpose."""


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
