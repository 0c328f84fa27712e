"""SOURCE parsing and the trust boundary of `package.module:callable` (cli/sources.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from atrous.cli.main import main
from atrous.cli.sources import build_model, load_model, parse_input_shape, parse_source
from atrous.errors import ConfigError


@pytest.fixture(autouse=True)
def _bad_modules(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules that exit or raise when imported, written at test time (pytest's doctest collection would import
    them from tests/)."""
    folder = tmp_path_factory.mktemp("modules")
    (folder / "_exits_on_import.py").write_text("import sys\n\nsys.exit(7)\n")
    (folder / "_fails_on_import.py").write_text('raise RuntimeError("broken on import")\n')
    monkeypatch.syspath_prepend(str(folder))
    for name in ("_exits_on_import", "_fails_on_import"):
        sys.modules.pop(name, None)


@pytest.fixture
def called():
    import _hostile

    _hostile.CALLED.clear()
    yield _hostile.CALLED
    _hostile.CALLED.clear()


@pytest.mark.parametrize("text", [
    "os:system?command='touch x'", "subprocess:run?args=['touch','x']", "builtins:exec?source='1'",
    "posix:system", "importlib:import_module?name='os'", "os.path:join", "shutil:rmtree?path='/'",
])
def test_standard_library_sources_are_refused_before_any_import(text: str) -> None:
    module = text.partition(":")[0]
    before = set(sys.modules)
    with pytest.raises(ConfigError, match=r"SOURCE module must not be part of the standard library"):
        parse_source(text)
    assert set(sys.modules) == before or module in before  # parsing imported nothing new


@pytest.mark.parametrize(("name", "match"), [
    ("run", r"must be a function defined in the package SOURCE names .* \(defined in subprocess\)"),
    ("ones", r"must be an nn.Module subclass or a Python function .* got builtin_function_or_method"),
    ("number", r"must build an nn.Module, got _hostile:number annotated to return int"),
    ("NotAModule", r"must be an nn.Module subclass or a function that builds one, got class"),
])
def test_non_builders_are_refused_without_being_called(name: str, match: str, called: list[str]) -> None:
    with pytest.raises(ConfigError, match=match):
        load_model(f"_hostile:{name}")
    assert called == []


@pytest.mark.parametrize("text", ["torch:load?f='x.pt'", "torch.hub:load?repo_or_dir='a/b'"])
def test_torch_loaders_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"not in torch or the standard library"):
        load_model(text)


def test_builders_classes_and_instances_are_accepted(called: list[str]) -> None:
    assert isinstance(load_model("_hostile:build?channels=2"), nn.Conv1d) and called == ["build"]
    assert isinstance(load_model("torch.nn:Identity"), nn.Identity)
    assert isinstance(load_model("_hostile:net"), nn.Conv1d)
    with pytest.raises(ConfigError, match=r"is a module instance, so it takes no \?key=value"):
        load_model("_hostile:net?x=1")


@pytest.mark.parametrize(("text", "match"), [
    ("_hostile:raises", r"_hostile:raises failed while building the model: ValueError: bad channels"),
    ("_hostile:exits", r"_hostile:exits failed while building the model: SystemExit: 7"),
    ("_exits_on_import:x", r"SOURCE module '_exits_on_import' failed on import: SystemExit: 7"),
    ("_fails_on_import:x", r"SOURCE module '_fails_on_import' failed on import: RuntimeError: broken on import"),
    ("nosuchpackage.mod:build", r"SOURCE module must be importable, got 'nosuchpackage.mod'"),
    ("_hostile:missing", r"SOURCE callable must exist in _hostile, got 'missing'"),
    ("a b:c", r"SOURCE module must be a dotted Python module name"),
    ("_hostile:build#weight", r"SOURCE must build an nn.Module, got Parameter"),
    ("_hostile:build#no.such", r"SOURCE attribute must name a submodule"),
    ("_hostile:build#1x", r"SOURCE #attribute must be a dotted path of names"),
    ("torchvision:resnet18?num_classes=-1", r"torchvision:resnet18 failed while building the model"),
    ("atrous:deeplabv3?num_classes=0", r"num_classes must be a positive int, got 0"),
    ("x\x00y:z", r"SOURCE must be torchvision:NAME"),
    ("", r"SOURCE must be torchvision:NAME"),
])
def test_bad_sources_are_one_typed_error(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_model(text)


def test_the_cli_prints_one_line_for_a_module_that_exits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "_exits_on_import:x"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "SystemExit: 7" in err


def test_parameters_past_the_cap_are_refused_on_the_meta_device() -> None:
    with pytest.raises(ConfigError, match=r"SOURCE must need at most 1 MB of memory, got 'atrous:tcn'"):
        load_model("atrous:tcn?channels=[512,512]", max_bytes=10**6)
    with pytest.raises(ConfigError, match=r"got 'torchvision:resnet18' \(estimated 46.\d MB\)"):
        load_model("torchvision:resnet18", max_bytes=10**6)


@pytest.mark.parametrize("content", [b"", b"junk", b"PK\x03\x04truncated"])
def test_unreadable_checkpoints_are_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"checkpoint must be a file written by atrous train, got '.*bad.pt'"):
        parse_source(str(path))


def test_a_foreign_torch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ConfigError, match=r"checkpoint format must be 'atrous-train/1', got None"):
        parse_source(str(path))


def test_a_checkpoint_is_read_once_and_rebuilt(tmp_path: Path) -> None:
    from atrous.models import create_model
    from atrous.train.state import save_checkpoint

    net = create_model("tcn", channels=[4], kernel_size=2)
    save_checkpoint(tmp_path / "last.pt", {"model": net.atrous_config, "state_dict": net.state_dict()})
    src = parse_source(str(tmp_path))
    assert src.kind == "checkpoint" and src.registry_name == "tcn" and src.model_kwargs["channels"] == [4]
    rebuilt = build_model(src)
    pairs = zip(rebuilt.state_dict().values(), net.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize("text", ["1,3", "1,3,a", "1,3,0", "1,3,-2", "1,3,2,2,2,2", "1" * 40 + ",3,4", ""])
def test_bad_input_shapes(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--input-shape must be batch,channels"):
        parse_input_shape(text)
