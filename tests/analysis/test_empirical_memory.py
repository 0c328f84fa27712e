"""The gradient passes of empirical_rf fit max_memory: bytes are counted as autograd saves them, samples run in
chunks, and a size where one sample does not fit is refused before it is allocated (analysis/_pass_memory.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atrous.analysis._pass_memory import OVERHEAD, PassMemory, saved_bytes
from atrous.analysis.empirical import empirical_rf
from atrous.errors import ConfigError


def test_saved_bytes_counts_what_a_convolution_keeps_for_backward() -> None:
    """conv2d saves its input and its weight (float64 here): 8 bytes per element, each storage once."""
    x = torch.ones(2, 3, 10, 10, dtype=torch.float64, requires_grad=True)
    w = torch.ones(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    with saved_bytes() as kept:
        torch.nn.functional.conv2d(x, w)
    assert kept[0] == 8 * (x.numel() + w.numel())
    with saved_bytes() as kept:  # nothing needs a gradient: nothing is saved
        torch.nn.functional.conv2d(x.detach(), w.detach())
    assert kept[0] == 0


def test_plan_splits_samples_into_chunks_that_fit() -> None:
    plan = PassMemory(max_memory=10_000, where="empirical_rf")
    assert plan.chunk(9, (10, 10)) == 1  # nothing measured yet: one sample at a time
    plan.observe(samples=2, sizes=(10, 10), nbytes=2 * 100 * 5)  # 5 bytes per position and sample
    assert plan.sample_bytes((10, 10)) == OVERHEAD * 5 * 100
    assert plan.chunk(9, (10, 10)) == 9  # masks 900 bytes, then 9 x 1,000 bytes fit in the 9,100 left
    assert plan.chunk(10, (10, 10)) == 9  # masks 1,000: 9,000 left, 9 samples of 1,000
    assert plan.chunk(3, (20, 20)) == 2  # masks 1,200: 8,800 left, one sample is 4,000 bytes
    plan.observe(samples=1, sizes=(10, 10), nbytes=100)  # a cheaper pass does not lower the plan
    assert plan.chunk(3, (20, 20)) == 2
    # at 40 x 40 one sample is 16,000 bytes and the 3 masks 4,800: 20,800 bytes = 2.08e-05 GB
    with pytest.raises(ConfigError, match=r"empirical_rf: max_memory must be at least 2.08e-05 GB to measure one "
                                          r"output unit at input \[40, 40\], got 1e-05 GB .* the 3 support masks "
                                          r"take 4.8e-06 GB"):
        plan.chunk(3, (40, 40))


def _upsampled() -> nn.Module:
    """Nearest x4 upsampling between two dilated convs: an output of period 4, measured over many units."""
    return nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2, padding=2), nn.Upsample(scale_factor=4),
                         nn.Conv2d(2, 1, 3, padding=1)).eval()


def test_chunked_passes_give_the_unchunked_result() -> None:
    net = _upsampled()
    whole = empirical_rf(net, (1, 1, 16, 16))
    lines: list[str] = []
    small = empirical_rf(net, (1, 1, 16, 16), max_memory=20_000_000, progress=lines.append)
    assert small == whole and whole.phases == (4, 4)
    assert any(line.startswith("  samples 1-") and "in chunks" in line for line in lines)
    unchunked: list[str] = []  # the default budget (half the RAM) needs no chunks here
    empirical_rf(net, (1, 1, 16, 16), progress=unchunked.append)
    assert not any("in chunks" in line for line in unchunked)


def test_a_size_where_one_sample_does_not_fit_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"max_memory must be at least .* to measure one output unit at input "
                                          r"\[\d+, \d+\].*raise max_memory \(the command line's --max-memory\)"):
        empirical_rf(_upsampled(), (1, 1, 16, 16), max_memory=20_000)


@pytest.mark.parametrize("value", [0, -5, 1.5, "2GB", True])
def test_max_memory_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(ConfigError, match=r"max_memory must be a positive int"):
        empirical_rf(_upsampled(), (1, 1, 16, 16), max_memory=value)  # type: ignore[arg-type]


def test_support_extent_is_the_box_its_taps_and_holes_fill() -> None:
    """With phases, the unit-0 box can be smaller than rf.size (the largest phase): the JSON's support must count
    its holes in its own box, as the analysis does (holes = extent volume - taps)."""
    r = empirical_rf(_upsampled(), (1, 1, 16, 16))
    support = r.as_dict()["support"]
    volume = support["extent"][0] * support["extent"][1]
    assert support["taps"] + support["holes"] == volume and support["coverage"] == support["taps"] / volume
