"""Music tasks for ``atrous train`` (docs/train.md, "Rhythm"): beat-matched dilations on generated rhythm.

* ``rhythm``: :class:`~atrous.data.rhythm.RhythmPatterns`, multi-track drum-pattern rolls at ``frame_rate``
  frames per second and ``bpm`` beats per minute, whose tracks repeat every beat, bar or two bars with persistent
  variations; the loss and the metric are the frame NLL of :func:`~atrous.data.music.frame_nll` (BCE summed over
  tracks, mean over frames), whose best possible value is the generator's entropy
  (:meth:`~atrous.data.rhythm.RhythmPatterns.entropy`).

The default model is Bai et al.'s ``tcn`` (dilations ``2**i``); ``--model-arg dilations=1,4,16`` gives it
beat-matched dilations (:func:`~atrous.data.rhythm.beat_dilations`) at the same parameter count. The Bach
chorales comparison uses the existing ``chorales`` task with the same option.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from atrous.errors import bad
from atrous.train.tasks import Batch, Scores, Task, register_task, sequence_sample

__all__ = ["RHYTHM", "TRACKS", "rhythm_dataset"]

#: tracks of the ``rhythm`` task (its input and output channels): one per entry of ``periods``
TRACKS = 4


def _nll_loss(out: Tensor, batch: Batch) -> Tensor:
    from atrous.data.music import frame_nll

    return frame_nll(out, batch[1]).mean()


def _nll_scores(out: Tensor, batch: Batch) -> Scores:
    from atrous.data.music import frame_nll

    nll = frame_nll(out, batch[1])
    return {"nll": (float(nll.sum()), len(nll))}


def rhythm_dataset(opts: Mapping[str, Any], split: str) -> Any:
    """The :class:`~atrous.data.rhythm.RhythmPatterns` split of a run's data options (``config.json``'s
    ``data``), e.g. to compute its :meth:`~atrous.data.rhythm.RhythmPatterns.entropy`."""
    from atrous.data.rhythm import RhythmPatterns, frames_per_beat

    periods = opts["periods"]
    if periods is not None and (not isinstance(periods, (list, tuple)) or len(periods) != TRACKS):
        raise bad("rhythm", "periods", f"a list of {TRACKS} periods in beats (the task's {TRACKS} tracks) or null",
                  periods)
    return RhythmPatterns(opts["length"], opts[f"{split}_size"], split, opts["data_seed"],
                          frames_per_beat(opts["bpm"], opts["frame_rate"]), opts["beats_per_bar"], opts["periods"],
                          opts["noise"], opts["density"])


def _rhythm_data(opts: Mapping[str, Any]) -> dict[str, Dataset[Any]]:
    return {split: rhythm_dataset(opts, split) for split in ("train", "test")}


RHYTHM = register_task(Task(
    "rhythm", "generated drum patterns repeating every beat / bar / 2 bars: predict the next frame (frame NLL)",
    _rhythm_data, TRACKS, TRACKS, _nll_loss, _nll_scores, "nll", False, ("test",),
    # 3 levels of 16, k = 3 (4,276 parameters; lstm 4,180, gru 4,220): dilations 1, 2, 4 (RF 29) reach the bar,
    # not two bars; --model-arg dilations=1,4,16 (beat-matched, RF 85) reaches both at the same size
    {"tcn": {"channels": [16] * 3, "kernel_size": 3, "dropout": 0.0},
     "lstm": {"hidden_size": 29}, "gru": {"hidden_size": 34}},
    # 20 epochs of 63 steps: the settings of experiments/rhythm/sweep.py
    {"epochs": 20, "batch_size": 32, "lr": 1e-2, "optimizer": "adam", "clip": 1.0, "lr_step": None},
    # 120 BPM at 8 frames per second: 4 frames per beat (sixteenths), 16 per bar; 128 frames = 8 bars
    {"length": 128, "train_size": 2_000, "test_size": 500, "bpm": 120, "frame_rate": 8, "beats_per_bar": 4,
     "periods": None, "noise": 0.05, "density": 0.3},
    sample=sequence_sample(),
))
