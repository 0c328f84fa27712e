#!/usr/bin/env bash
# Adding problem, T = 600 (Bai et al. 2018, Table 1 and Figure 2): TCN 8x24, k=8 (70K) vs ~70K-parameter
# LSTM and GRU. Paper: TCN 5.8e-5, GRU 5.3e-5, LSTM 0.164 (test MSE). Defaults: 50,000 training samples,
# 1,000 test, batch 32, Adam lr 2e-3, 10 epochs, no clipping (atrous train adding --help).
source "$(dirname "$0")/_common.sh"
run_models adding "tcn lstm gru" --length 600 "$@"
