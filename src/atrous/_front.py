"""The notebook front door behind ``atrous.analyze`` and ``atrous.report(...)``: a module or a SOURCE string in,
a displayable result out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from atrous.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from atrous.analysis import Analysis, EmpiricalRF
    from atrous.report.result import Report

__all__ = ["analyze", "empirical_rf", "report"]


def _model(model: nn.Module | str, input_shape: Sequence[int] | None, where: str) -> tuple[nn.Module, tuple[int, ...]]:
    """A module and its input shape; a string is a SOURCE as on the command line (``torchvision:resnet50``)."""
    if isinstance(model, str):
        from atrous.cli.sources import build_model, parse_source

        src = parse_source(model, where)
        built = build_model(src, where)
        if input_shape is None and src.registry_name is not None:
            from atrous.models import model_info

            input_shape = (1, *model_info(src.registry_name).input_shape[1:])
        model = built
    if input_shape is None:
        raise ConfigError(f"{where}: input_shape must be given for this model, e.g. (1, 3, 224, 224), got None")
    return model, tuple(input_shape)


def analyze(model: nn.Module | str, input_shape: Sequence[int] | None = None, *, node: str | None = None,
            output: str | int | None = None) -> Analysis:
    """Receptive field, holes, alignment and gridding of every node of ``model`` at ``input_shape``.

    ``model`` is an ``nn.Module`` or a SOURCE string (``"torchvision:resnet50"``, ``"atrous:tcn"``; a registry model
    has a default input shape). Returns an :class:`~atrous.analysis.Analysis`: a short repr, an inline table in
    Jupyter, ``.to_dict()`` (the ``atrous analyze --json`` object) and ``.save(path)``. See
    :func:`atrous.analysis.analyze` for ``node`` and ``output``.
    """
    from atrous.analysis import analyze as run

    net, shape = _model(model, input_shape, "analyze")
    return run(net, shape, node=node, output=output)


def report(model: nn.Module | str, input_shape: Sequence[int] | None = None, *, node: str | None = None,
           samples: int = 16, inits: int = 1, seed: int = 0, device: str = "cpu", erf: bool = True,
           progress: bool | None = None) -> Report:
    """The analysis plus the measured effective receptive field, frequency view and advice of ``model``.

    Returns a report object that Jupyter shows as the interactive page; ``.save("report.html")`` writes the
    self-contained file, ``.to_dict()`` gives the ``atrous report --json`` object. ``progress`` shows a bar while the
    ERF is sampled (default: on a terminal or in a notebook). The user's matplotlib backend is left as it is.
    """
    from atrous._progress import bar
    from atrous._validate import int_in_range, positive_int
    from atrous.report import collect

    positive_int("report", "samples", samples, 1_000_000)
    positive_int("report", "inits", inits, 10_000)
    int_in_range("report", "seed", seed, 0, 2**63 - 1)
    if isinstance(model, str):  # a model built here gets the same random weights every call, as on the CLI
        import torch

        torch.manual_seed(seed)
    net, shape = _model(model, input_shape, "report")
    source = model if isinstance(model, str) else type(model).__name__
    with bar("ERF samples", enabled=progress) as tick:
        return collect(net, shape, source=source, node=node, samples=samples, inits=inits, seed=seed, device=device,
                       erf=erf, progress=tick)


def empirical_rf(model: nn.Module | str, input_shape: Sequence[int] | None = None, *, node: str | None = None,
                 max_size: int = 4096, progress: bool | None = None,
                 max_memory: int | None = None) -> EmpiricalRF:
    """The receptive field of ``model``'s centre output unit measured by autograd, for models the analysis cannot
    trace or to cross-check it (see :func:`atrous.analysis.empirical_rf`). ``progress`` shows a bar over its
    passes (default: on a terminal or in a notebook)."""
    from atrous._progress import stages
    from atrous.analysis import empirical_rf as run

    net, shape = _model(model, input_shape, "empirical_rf")
    with stages("empirical RF", enabled=progress) as say:
        return run(net, shape, node=node, max_size=max_size, progress=say, max_memory=max_memory)
