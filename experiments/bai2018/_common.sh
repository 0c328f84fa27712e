# Shared by the Bai et al. (2018) reproduction scripts: run `atrous train` for several models on one task.
# Usage (from a script): run_models TASK "MODELS" [atrous train options...]
# Environment: ATROUS (the command, default `atrous`), RUNS (the runs folder, default runs/bai2018),
#              SEEDS (default "0"). Extra options after the script name are passed to every run, for
#              example `--steps 200 --threads 1` for a short smoke run or `--device cuda` on a GPU.
set -euo pipefail
ATROUS=${ATROUS:-atrous}
RUNS=${RUNS:-runs/bai2018}
SEEDS=${SEEDS:-0}

run_models() {
  local task=$1 models=$2
  shift 2
  for seed in $SEEDS; do
    for model in $models; do
      local out="$RUNS/$task-$model-seed$seed"
      if [ -f "$out/last.pt" ]; then
        # an interrupted run continues exactly where it stopped; a finished one returns at once
        $ATROUS train --resume "$out" "$@"
      else
        $ATROUS train "$task" --model "$model" --seed "$seed" --data-seed "$seed" --out "$out" "$@"
      fi
    done
  done
}
