"""SOURCE forms of peer libraries: ``timm:NAME`` and ``smp:ARCH`` build without pretrained weights (cli/_peers.py),
and a builder that fails on a download gets a hint."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from atrous.cli.main import main
from atrous.cli.sources import load_model
from atrous.errors import ConfigError


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any network connection fails at once: a build that passes under it downloaded nothing."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_timm_name_builds_the_model_create_model_builds(offline: None) -> None:
    timm = pytest.importorskip("timm")
    model = load_model("timm:resnet18?num_classes=7")
    reference = timm.create_model("resnet18", pretrained=False, num_classes=7)
    assert type(model) is type(reference) and model.fc.out_features == 7
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert not model.training


def test_timm_function_names_keep_the_callable_form() -> None:
    pytest.importorskip("timm")
    model = load_model("timm:create_model?model_name='resnet10t'&num_classes=3")
    assert model.fc.out_features == 3


@pytest.mark.parametrize(("text", "match"), [
    ("timm:resnet81", r"timm:NAME must be one of timm.list_models\(\), got 'resnet81'; did you mean resnet18"),
    ("smp:Unte", r"smp:ARCH must be one of DPT, .*Unet.*, got 'Unte'; did you mean Unet\?"),
])
def test_unknown_peer_names_are_refused_with_suggestions(text: str, match: str) -> None:
    pytest.importorskip("timm")
    pytest.importorskip("segmentation_models_pytorch")
    with pytest.raises(ConfigError, match=match):
        load_model(text)


def test_smp_arch_is_matched_in_any_case_and_built_without_encoder_weights(offline: None) -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    model = load_model("smp:deeplabv3plus?encoder_name=resnet18&classes=2")
    assert isinstance(model, smp.DeepLabV3Plus)
    assert model.segmentation_head[0].out_channels == 2


@pytest.mark.parametrize(("prefix", "package"), [("timm", "timm"), ("smp", "segmentation-models-pytorch")])
def test_missing_peer_package_names_what_to_install(prefix: str, package: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    module = "timm" if prefix == "timm" else "segmentation_models_pytorch"
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=rf"needs the {package} package, which is not installed; pip install "
                                          rf"{package}"):
        load_model(f"{prefix}:anything")


def test_a_failed_download_gets_a_hint_and_no_download_error_gets_none() -> None:
    with pytest.raises(ConfigError, match=r"_hostile:downloads failed while building the model: RuntimeError: "
                                          r"could not fetch the checkpoint; it tried to download weights.*"
                                          r"encoder_weights=None"):
        load_model("_hostile:downloads")
    with pytest.raises(ConfigError) as plain:
        load_model("_hostile:raises")
    assert "download" not in str(plain.value)


def test_cli_field_of_timm_resnet18_matches_torchvision_resnet18(capsys: pytest.CaptureFixture[str],
                                                                 offline: None) -> None:
    """Two independent implementations of the same architecture: the traced fields must agree."""
    pytest.importorskip("timm")
    fields = []
    for source in ("timm:resnet18", "torchvision:resnet18"):
        assert main(["analyze", source, "--input-shape", "1,3,64,64", "--summary-only", "--json"]) == 0
        rf = json.loads(capsys.readouterr().out)["rf"]
        fields.append((rf["size"], rf["stride"]))
    assert fields[0] == fields[1] == ([435, 435], [32, 32])
