"""TCN options beyond the registry defaults: locuslab's effective initialisation, and its typed error."""

from __future__ import annotations

import pytest
import torch

from atrous.errors import ConfigError
from atrous.models import create_model


@pytest.mark.parametrize("weight_norm", [True, False])
def test_bai_init_draws_projections_and_head_from_a_narrow_normal(weight_norm):
    torch.manual_seed(0)
    bai = create_model("tcn", in_channels=2, channels=[24] * 4, kernel_size=8, out_channels=1,
                       weight_norm=weight_norm, init="bai")
    torch.manual_seed(0)
    default = create_model("tcn", in_channels=2, channels=[24] * 4, kernel_size=8, out_channels=1,
                           weight_norm=weight_norm)
    for model in (bai, default):
        assert model.levels[0].downsample is not None and all(level.downsample is None for level in model.levels[1:])
    small = [bai.head.weight, bai.levels[0].downsample.weight]
    assert all(0.007 < float(w.detach().std()) < 0.013 for w in small)
    assert float(default.head.weight.std()) > 0.05 and float(default.levels[0].downsample.weight.std()) > 0.2
    conv = bai.levels[1].conv1.weight
    # with weight norm the convs keep PyTorch's init (the N(0, 0.01) of locuslab's code is overwritten there)
    assert (float(conv.std()) > 0.03) == weight_norm  # default: U(±1/sqrt(192)), std 0.042
    out = bai(torch.randn(3, 2, 50))
    assert out.shape == (3, 1, 50) and float(out.abs().max()) < 1.0


def test_unknown_init_is_refused():
    with pytest.raises(ConfigError, match="TCN: init must be one of default, bai, got 'xavier'"):
        create_model("tcn", init="xavier")
