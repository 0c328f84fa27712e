#!/usr/bin/env bash
# Polyphonic music on Bach chorales from music21's corpus (JSB-style; Table 1 JSB Chorales NLL: TCN 8.10,
# GRU 8.43, LSTM 8.45). Not the JSB split or file set (docs/data.md), so compare models with each other.
# Defaults: TCN 2x150, k=3, dropout 0.5 (270K); LSTM 220 / GRU 260 hidden (~300K); Adam lr 1e-3, clip 0.4,
# batch 1, 100 epochs. The first run parses the corpus (minutes) and caches it.
source "$(dirname "$0")/_common.sh"
run_models chorales "tcn lstm gru" "$@"
