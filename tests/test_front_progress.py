"""Progress in a notebook: training's ``fit``, the ERF of ``atrous.report`` and ``atrous.empirical_rf`` draw a tqdm
bar by default inside Jupyter (faked here by patching ``in_notebook``), and nothing outside one when stderr is not a
terminal."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch.nn as nn

import atrous
from atrous import _progress


class Recorder:
    """Stands in for tqdm: records what a bar was asked to show."""

    made: ClassVar[list[Recorder]] = []

    def __init__(self, total: Any = None, initial: int = 0, desc: str = "", **_: Any) -> None:
        self.total, self.n, self.desc, self.posts, self.writes, self.closed = total, initial, desc, [], [], False
        Recorder.made.append(self)

    def update(self, k: int = 1) -> None:
        self.n += k

    def set_postfix(self, fields: dict, refresh: bool = True) -> None:
        self.posts.append(dict(fields))

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.posts.append(text)

    def write(self, text: str) -> None:
        self.writes.append(text)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    Recorder.made = []
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr(_progress, "tqdm_class", lambda: Recorder)
    return Recorder


def test_fit_draws_a_bar_in_a_notebook_by_default(notebook: type[Recorder], tmp_path) -> None:
    from atrous.train import TrainConfig, fit

    cfg = TrainConfig("adding", model="tcn", steps=4, log_every=2, batch_size=4,
                      model_kwargs={"channels": [4, 4]}, data={"length": 20, "train_size": 16, "test_size": 8})
    fit(cfg, tmp_path / "run", device="cpu")
    (shown,) = notebook.made
    assert shown.desc == "training" and shown.total == 4 and shown.n == 4 and shown.closed
    assert [p["epoch"] for p in shown.posts] and all("loss" in p for p in shown.posts)
    assert any("test_mse" in w or "test_loss" in w for w in shown.writes), shown.writes


def test_no_bar_outside_a_notebook_when_stderr_is_not_a_terminal(tmp_path, capsys) -> None:
    from atrous.train import TrainConfig, fit

    cfg = TrainConfig("adding", model="tcn", steps=2, batch_size=4, model_kwargs={"channels": [4, 4]},
                      data={"length": 20, "train_size": 8, "test_size": 8})
    fit(cfg, tmp_path / "run", device="cpu")
    assert capsys.readouterr().err == ""


def test_report_and_empirical_rf_show_bars_in_a_notebook(notebook: type[Recorder]) -> None:
    net = nn.Sequential(nn.Conv1d(1, 2, 3, padding=2, dilation=2), nn.Conv1d(2, 1, 3, padding=4, dilation=4))
    atrous.report(net, (1, 1, 64), samples=3)
    measured = atrous.empirical_rf(net, (1, 1, 64))
    erf_bar, stage_bar = notebook.made
    assert erf_bar.total == 3 and erf_bar.n == 3 and erf_bar.closed
    assert stage_bar.n == len(stage_bar.posts) >= 1 and all(isinstance(p, str) for p in stage_bar.posts)
    assert stage_bar.closed and measured.size == (13,)


def test_progress_false_draws_nothing(notebook: type[Recorder]) -> None:
    net = nn.Conv1d(1, 1, 3, dilation=3)
    assert atrous.empirical_rf(net, (1, 1, 32), progress=False).size == (7,)
    assert notebook.made == []
