"""The hostile command lines of the CLI fuzz tests, shared by the in-process tests (test_cli_hardening.py) and the
bounded-memory run of every case in a child process (test_cli_bounds.py)."""

from __future__ import annotations

import os

#: (argv, a part of the one-line error it must print)
USER_ERRORS: list[tuple[list[str], str]] = [
    (["rf", "-d", "1000000000"], "atrous rf: --dilation must need at most 2 GB of memory, got '1000000000' "
                                 "(estimated 200 GB)"),
    (["rf", "-k", "1000000000", "--dims", "3"], "--kernel must need at most 2 GB of memory"),
    (["rf", "-d", "1" + "0" * 30], "--dilation must need at most 2 GB of memory"),
    (["rf", "-k", "200000", "-d", "1,1,1"], "--dilation must need at most 60 s of time"),
    (["rf", "-d", "1000", "--max-memory", "nan"], "--max-memory must be a finite number > 0, got nan"),
    (["rf", "-d", "1000", "--max-time", "-1"], "--max-time must be a finite number > 0, got -1.0"),
    (["rf", "--kernel", ""], "--kernel must be a comma-separated list without empty items, got ''"),
    (["rf", "-d", "1e9"], "--dilation must be a comma-separated list of positive ints, got '1e9'"),
    (["rf", "--branches", ""], "--branches must be a comma-separated list without empty items"),
    (["rf", "--branches", "6,12", "--branch-kernel", "0"], "--branch-kernel must be a positive int, got 0"),
    (["schedule", "--rf", "1"], "atrous schedule: --rf must be an int >= 2, got 1"),
    (["schedule", "--rf", "100", "-k", "1"], "--kernel must be an int >= 2, got 1"),
    (["schedule", "--rf", "100", "--max-dilation", "0"], "--max-dilation must be a positive int, got 0"),
    (["report", "atrous:tcn", "--seed", "-1"], "--seed must be an int in 0..9223372036854775807, got -1"),
    (["report", "atrous:tcn", "--inits", "100000"], "--inits must be an int in 1..10000, got 100000"),
    (["analyze", "atrous:spliceai", "--input-shape", "1,4,100000000", "--empirical"],
     "analyze: --input-shape must need at most 2 GB of memory, got '1,4,100000000'"),
    (["report", "atrous:spliceai", "--input-shape", "1,4,10000000", "-o", os.devnull + "x"],
     "report: --input-shape must need at most 2 GB of memory"),
]

#: values drawn for numeric and list options
NUMBER_WORDS = ["", "0", "-1", "1e9", "nan", "inf", "10" * 20, "3,", ",", "x", "1,,2", "\u0663", "1" + "0" * 12, " 2",
                "2.5", "+4"]
#: options of `atrous rf` the fuzz draws
RF_FLAGS = ["-k", "-d", "-s", "--padding", "--kind", "--input-size", "--branches", "--branch-kernel", "--dims",
            "--max-memory", "--max-time", "--preset"]
#: SOURCE strings: hostile, malformed and plain ones (the `_hostile` module records any call)
SOURCES = ["os:system", "subprocess:run?args=['true']", "builtins:eval?source='1'", ":", "a:", ":b", "torchvision:",
           "atrous:", "atrous:tcn?channels=[0]", "atrous:tcn?=1", "atrous:tcn?x", "_hostile:run", "_hostile:ones",
           "torch:load", "torch.nn:Identity#", "x.pt", "/", "..", "atrous:tcn#levels.0.conv1"]
SOURCE_ALPHABET = "ab:.?=&#/[],'0_"

#: a tiny training run (a few steps of a 4-channel TCN); {out} is a fresh folder per case
TRAIN_TINY = ["train", "adding", "--length", "12", "--train-size", "32", "--test-size", "8", "--batch-size", "8",
              "--model-arg", "channels=4,4", "--model-arg", "kernel_size=2", "-q", "--steps", "2", "--out", "{out}"]
#: options of `atrous train` the fuzz draws (each with a value from NUMBER_WORDS or a small int)
TRAIN_FLAGS = ["--lr", "--clip", "--seed", "--threads", "--stop-after", "--batch-size", "--length", "--train-size",
               "--test-size", "--epochs", "--steps", "--log-every", "--eval-every", "--checkpoint-every",
               "--data-seed", "--lr-step"]
#: hostile training commands whose data or model would not fit: each is refused before it allocates
TRAIN_HUGE: list[list[str]] = [
    ["train", "adding", "--length", "1000000000", "--out", "{out}"],
    ["train", "adding", "--train-size", "1000000000", "--out", "{out}"],
    ["train", "copy", "--length", "100000000", "--out", "{out}"],
    ["train", "lanes", "--data-arg", "image=100000", "--out", "{out}"],
    ["train", "nuclei", "--data-arg", "tile=50000", "--out", "{out}"],
    ["train", "object_scale", "--data-arg", "image=20000", "--out", "{out}"],
    ["train", "gridding", "--data-arg", "image=3000", "--out", "{out}"],
    ["train", "hops", "--data-arg", "nodes=100000", "--out", "{out}"],
    ["train", "enhancer", "--length", "100000000", "--out", "{out}"],
    ["train", "rhythm", "--length", "100000000", "--out", "{out}"],
    ["train", "adding", "--model-arg", "channels=1000000,1000000", "--out", "{out}"],
]
