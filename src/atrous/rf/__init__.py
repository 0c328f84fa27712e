"""Receptive-field arithmetic for dilated networks: pure Python + numpy, never imports torch.

>>> from atrous import rf
>>> rf.receptive_field([rf.conv(3, dilation=d) for d in (1, 2, 4)]).size
(15,)
"""

from atrous.rf.frequency import alias_free_stride, aliased_energy, cutoff, frequency_response, stack_response
from atrous.rf.graph import MERGES, Graph, Node, as_graph
from atrous.rf.gridding import (
    GriddingReport,
    HDCVerdict,
    common_factor,
    exact_miss_probability,
    gridding_report,
    hdc_check,
    hdc_m_values,
    miss_probability,
    support_miss_probability,
)
from atrous.rf.layer import (
    KINDS,
    PAD_WORDS,
    UPSAMPLE_MODES,
    Layer,
    conv,
    conv_transpose,
    crop,
    downsample,
    global_pool,
    pool,
    span,
    upsample,
)
from atrous.rf.matrix import ConvMatrix, conv_matrix
from atrous.rf.reads import NodeReads, Reads, node_reads, reads
from atrous.rf.schedule import Schedule, cyclic, design, exponential, sawtooth
from atrous.rf.stack import AxisPhases, NodeRF, RFResult, output_length, receptive_field
from atrous.rf.support import AxisSupport, Support, support

__all__ = [
    "KINDS",
    "MERGES",
    "PAD_WORDS",
    "UPSAMPLE_MODES",
    "AxisPhases",
    "AxisSupport",
    "ConvMatrix",
    "Graph",
    "GriddingReport",
    "HDCVerdict",
    "Layer",
    "Node",
    "NodeRF",
    "NodeReads",
    "RFResult",
    "Reads",
    "Schedule",
    "Support",
    "alias_free_stride",
    "aliased_energy",
    "as_graph",
    "common_factor",
    "conv",
    "conv_matrix",
    "conv_transpose",
    "crop",
    "cutoff",
    "cyclic",
    "design",
    "downsample",
    "exact_miss_probability",
    "exponential",
    "frequency_response",
    "global_pool",
    "gridding_report",
    "hdc_check",
    "hdc_m_values",
    "miss_probability",
    "node_reads",
    "output_length",
    "pool",
    "reads",
    "receptive_field",
    "sawtooth",
    "span",
    "stack_response",
    "support",
    "support_miss_probability",
    "upsample",
]
