"""Models from the packages users bring (pytorch-tcn, segmentation_models_pytorch, timm, torchvision feature
extractors), none of which the tracer was written for: analysed (exact, a labelled bound, or global with the
local geometry), cross-checked against the gradient measurement where it is cheap. The whole sweep of 200+
models is benchmarks/zoo.py (docs/zoo.md)."""

from __future__ import annotations

import warnings

import pytest
import torch

from atrous.analysis import analyze, empirical_rf


def agree(model: torch.nn.Module, shape: tuple[int, ...], s: dict[str, object]) -> None:
    torch.manual_seed(0)
    r = empirical_rf(model, shape)
    rf, sup = s["rf"], s["support"]
    assert isinstance(rf, dict) and isinstance(sup, dict)
    assert (list(r.size), list(r.stride), list(r.offset)) == (rf["size"], rf["stride"], rf["offset"])
    assert r.taps == sup["taps"]


@pytest.mark.parametrize("causal", [True, False])
def test_pytorch_tcn(causal: bool) -> None:
    """pytorch-tcn's TCN (not traceable by torch.fx): three levels of kernel 4, dilations 1, 2, 4, two convs each:
    1 + 2 * 3 * (1 + 2 + 4) = 43 samples, all in the past when causal."""
    tcn = pytest.importorskip("pytorch_tcn")
    torch.manual_seed(0)
    model = tcn.TCN(4, [8, 8, 8], kernel_size=4, causal=causal, dropout=0.0)
    s = analyze(model, (1, 4, 128)).summary
    assert s["rf"]["size"] == [43] and s["rf"]["exact"] and not s["rf"]["global"]
    if causal:
        assert s["rf"]["lookahead"] == [0] and s["rf"]["lookback"] == [42]
    agree(model, (1, 4, 128), s)


def test_smp_unet_is_exact_and_agrees() -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    model = smp.Unet(encoder_name="resnet18", encoder_weights=None, encoder_depth=3,
                     decoder_channels=(32, 16, 8))
    s = analyze(model, (1, 3, 64, 64)).summary   # smp checks h % 8 in forward: fine on a concrete shape
    assert s["rf"]["exact"] and s["rf"]["global"] is False and s["rf"]["stride"] == [1, 1]
    agree(model, (1, 3, 64, 64), s)


@pytest.mark.parametrize("arch", ["DeepLabV3Plus", "FPN", "PSPNet", "Segformer", "UPerNet"])
def test_smp_architectures_are_analysed(arch: str) -> None:
    """align_corners heads and pyramid pooling: analysed, as an exact field or a bound labelled exact: false."""
    smp = pytest.importorskip("segmentation_models_pytorch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(smp, arch)(encoder_name="resnet18", encoder_weights=None)
    s = analyze(model, (1, 3, 128, 128)).summary
    assert s["method"] == "analytic" and s["rf"]["size"][0] > 100
    if not s["rf"]["exact"]:
        assert any("exact: false" in n for n in s["notes"])


def test_smp_encoder_returns_a_list_and_says_so() -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    encoder = smp.encoders.get_encoder("resnet18", weights=None)
    s = analyze(encoder, (1, 3, 64, 64)).summary
    assert len(s["outputs"]) == 6 and s["output"] == "0" and any("returns 6 outputs" in n for n in s["notes"])
    deepest = analyze(encoder, (1, 3, 64, 64), output=-1).summary
    assert deepest["output"] == "5" and deepest["rf"]["stride"] == [32, 32]


def test_torchvision_feature_dict_picks_the_named_map() -> None:
    """The report's case: a dict of feature maps analysed at its first key without saying so. Now every key
    is listed and output= picks one: ResNet-50's layer3 (stride 16) reads 267 px, layer2 91 px."""
    tv = pytest.importorskip("torchvision")
    from torchvision.models._utils import IntermediateLayerGetter

    getter = IntermediateLayerGetter(tv.models.resnet50(weights=None), {"layer2": "c3", "layer3": "c4"})
    s = analyze(getter, (1, 3, 224, 224)).summary
    assert {k: v["rf"]["size"] for k, v in s["outputs"].items()} == {"c3": [91, 91], "c4": [267, 267]}
    c4 = analyze(getter, (1, 3, 224, 224), output="c4").summary
    assert c4["rf"]["stride"] == [16, 16] and c4["output"] == "c4"


@pytest.mark.parametrize("name", ["res2net50_14w_8s", "mixnet_s", "skresnet18", "ecaresnet26t", "levit_128s",
                                  "tresnet_m", "coatnet_0_rw_224"])
def test_timm_families_refused_before_are_analysed(name: str) -> None:
    """torch.split, Conv1d over channels (ECA), space-to-depth, attention: analysed, not refused."""
    timm = pytest.importorskip("timm")
    model = timm.create_model(name, pretrained=False)
    s = analyze(model, (1, 3, 224, 224)).summary
    assert s["method"] == "analytic" and s["rf"]["global"] is True
    assert s["last_spatial"]["rf"]["size"][0] > 1
