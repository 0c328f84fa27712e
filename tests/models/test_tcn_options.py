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


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("peer_kwargs", "ours_kwargs"), [
    ({}, {"kernel_size": 4, "dropout": 0.1, "weight_norm": True}),
    ({"kernel_size": 3, "use_norm": None, "output_projection": 2}, {"kernel_size": 3, "out_channels": 2}),
    ({"kernel_size": 2, "dilations": [1, 3, 9]}, {"kernel_size": 2, "weight_norm": True, "dilations": [1, 3, 9]}),
])
def test_pytorch_tcn_checkpoint_loads_in_one_call(peer_kwargs, ours_kwargs):
    pytorch_tcn = pytest.importorskip("pytorch_tcn")
    torch.manual_seed(0)
    peer = pytorch_tcn.TCN(2, [6, 6, 6], **peer_kwargs).eval()
    ours = create_model("tcn", in_channels=2, channels=[6, 6, 6], **ours_kwargs).eval()
    assert ours.load_pytorch_tcn_state_dict(peer.state_dict()) is ours
    x = torch.randn(3, 2, 90)
    with torch.no_grad():
        ref = peer(x)
        assert (ours(x) - ref).abs().max() <= 1e-5 * ref.abs().max()
    with pytest.raises(RuntimeError, match="Unexpected key"):
        create_model("tcn", in_channels=2, channels=[6, 6], **{**ours_kwargs, "dilations": None}) \
            .load_pytorch_tcn_state_dict(peer.state_dict())
