"""The dense read patterns refuse a field too long to hold, before any array is made."""

from __future__ import annotations

import pytest

from atrous.errors import ConfigError
from atrous.rf import node_reads, reads
from atrous.rf.layer import conv


def test_read_patterns_past_max_cells_are_refused_before_they_allocate() -> None:
    wide = [conv(3, dilation=10**8)] * 3
    with pytest.raises(ConfigError, match=r"^reads: the receptive field along axis 0 must span at most "
                                          r"max_cells=67108864 inputs .*got 600000001"):
        reads(wide)
    with pytest.raises(ConfigError, match=r"^node_reads: the receptive field along axis 0 .*got 200000001"):
        node_reads(wide)
    assert reads([conv(3, dilation=2)] * 3, max_cells=13).taps == 7  # the bound is inclusive
    with pytest.raises(ConfigError, match=r"^reads: .*max_cells=12 inputs .*got 13"):
        reads([conv(3, dilation=2)] * 3, max_cells=12)
