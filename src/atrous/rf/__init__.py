"""Receptive-field arithmetic for dilated networks: pure Python + numpy, never imports torch.

>>> from atrous import rf
>>> rf.receptive_field([rf.conv(3, dilation=d) for d in (1, 2, 4)]).size
(15,)
"""

from atrous.rf.frequency import alias_free_stride, aliased_energy, cutoff, frequency_response, stack_response
from atrous.rf.graph import MERGES, Graph, Node, as_graph
from atrous.rf.layer import KINDS, PAD_WORDS, Layer, conv, global_pool, pool, span
from atrous.rf.matrix import ConvMatrix, conv_matrix
from atrous.rf.stack import NodeRF, RFResult, output_length, receptive_field
from atrous.rf.support import AxisSupport, Support, node_supports, support

__all__ = [
    "KINDS", "MERGES", "PAD_WORDS", "AxisSupport", "ConvMatrix", "Graph", "Layer", "Node", "NodeRF", "RFResult",
    "Support", "alias_free_stride", "aliased_energy", "as_graph", "conv", "conv_matrix", "cutoff",
    "frequency_response", "global_pool", "node_supports", "output_length", "pool", "receptive_field", "span",
    "stack_response", "support",
]
