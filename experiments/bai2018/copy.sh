#!/usr/bin/env bash
# Copy memory, T = 1000 (Table 1 and Figure 4): TCN 8x10, k=8 (12.5K; the paper says 13K/16K) vs ~16K-parameter
# LSTM and GRU. Paper: TCN 3.5e-5, LSTM 0.0204, GRU 0.0197 (test loss; 0.0204 = 10 ln 8 / 1020 is "blanks, then
# guess"). Defaults: 10,000 training samples, 1,000 test, batch 32, RMSprop lr 5e-4, clip 1.0 (applied after
# backward, unlike locuslab's script), 50 epochs.
source "$(dirname "$0")/_common.sh"
run_models copy "tcn lstm gru" --length 1000 "$@"
