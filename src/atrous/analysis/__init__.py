"""Receptive fields of real PyTorch models: concrete-shape tracing, gradient cross-checks, effective receptive fields.

>>> from atrous.analysis import analyze
>>> import torch.nn as nn
>>> analyze(nn.Sequential(nn.Conv1d(1, 1, 3, dilation=2, padding=2)), (1, 1, 32)).summary["rf"]["size"]
[5]

Importing this package imports torch; ``import atrous`` alone does not.
"""

from atrous.analysis.analyze import Analysis, analyze
from atrous.analysis.empirical import EmpiricalRF, empirical_rf
from atrous.analysis.erf import effective_rf
from atrous.analysis.tracer import TracedModel, trace

__all__ = ["Analysis", "EmpiricalRF", "TracedModel", "analyze", "effective_rf", "empirical_rf", "trace"]
