#!/usr/bin/env bash
# Start one Bai et al. run detached from this shell, on one thread, so it survives a closed terminal or session.
# Usage: bash experiments/bai2018/launch.sh TASK MODEL SEED [extra atrous train options...]
#   e.g. bash experiments/bai2018/launch.sh copy tcn 0            # TCN copy memory T=1000, seed 0, paper's budget
#        bash experiments/bai2018/launch.sh adding gru 0          # GRU adding T=600 at the TCN's budget
# The run folder is $RUNS/TASK-MODEL-seedSEED (RUNS defaults to runs/bai2018, which git ignores). A folder that
# already holds last.pt is resumed (`atrous train --resume`), so the same command continues a killed run; a
# finished one is left as it is.
# Each start and end is appended to the folder's wall.jsonl (UTC and seconds), the output goes to train.log and
# the process id to pid. Copy finished runs into the committed store with collect.py.
# Environment: PYTHON (default: python), RUNS, MAX_JOBS (default 1: refuse to start while that many launched
# runs are alive; set 2 on a machine of your own to use two cores), TAG (appended to the folder name, e.g.
# TAG=lr1e-3 for a learning-rate sweep), FOREGROUND=1 (run here and wait: what queue.sh uses).
set -euo pipefail
if [ $# -lt 3 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
task=$1 model=$2 seed=$3
shift 3
PYTHON=${PYTHON:-python}
RUNS=${RUNS:-runs/bai2018}
MAX_JOBS=${MAX_JOBS:-1}
case $task in
  copy) length=1000 ;;
  adding) length=600 ;;
  digits|pdigits) length= ;;
  *) echo "launch.sh: TASK must be copy, adding, digits or pdigits, got '$task'" >&2; exit 2 ;;
esac
out="$RUNS/$task-$model-seed$seed${TAG:+-$TAG}"
mkdir -p "$RUNS" "$out"

alive=0
[ "${FOREGROUND:-0}" = 1 ] && MAX_JOBS=1000000  # a queue runs one run at a time by construction
for pidfile in "$RUNS"/*/pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    if [ "$pidfile" = "$out/pid" ]; then
      echo "launch.sh: $out is already running (pid $pid)" >&2; exit 1
    fi
    alive=$((alive + 1))
  fi
done
if [ "$alive" -ge "$MAX_JOBS" ]; then
  echo "launch.sh: $alive launched run(s) alive, MAX_JOBS is $MAX_JOBS; wait, or raise MAX_JOBS" >&2; exit 1
fi

if [ -f "$out/summary.json" ] && grep -q '"status": "finished"' "$out/summary.json"; then
  echo "$out is finished (its summary.json says so): nothing to run"  # its records stay as they are
  exit 0
fi
if [ -f "$out/last.pt" ]; then
  cmd=("$PYTHON" -m atrous train --resume "$out" --quiet "$@")
  event=resume
else
  cmd=("$PYTHON" -m atrous train "$task" --model "$model" --seed "$seed" --data-seed "$seed" --threads 1 \
       --out "$out" --quiet)
  [ -n "$length" ] && cmd+=(--length "$length")
  cmd+=("$@")
  event=start
fi
printf '%q ' "${cmd[@]}" > "$out/command.txt"
echo >> "$out/command.txt"
# the wrapper records wall-clock start, end and exit status around the training process
wrapper='
  out=$1; event=$2; shift 2
  t0=$(date +%s)
  printf "{\"event\": \"%s\", \"start\": \"%s\", \"start_s\": %s}\n" "$event" "$(date -u +%FT%TZ)" "$t0" >> "$out/wall.jsonl"
  "$@" >> "$out/train.log" 2>&1 && rc=0 || rc=$?
  t1=$(date +%s)
  printf "{\"event\": \"end\", \"end\": \"%s\", \"end_s\": %s, \"seconds\": %s, \"rc\": %s}\n" "$(date -u +%FT%TZ)" "$t1" "$((t1 - t0))" "$rc" >> "$out/wall.jsonl"
'
if [ "${FOREGROUND:-0}" = 1 ]; then
  echo $$ > "$out/pid"
  echo "running $event of $out in the foreground"
  bash -c "$wrapper" launch "$out" "$event" "${cmd[@]}" < /dev/null
  exit 0
fi
nohup setsid bash -c "$wrapper" launch "$out" "$event" "${cmd[@]}" > /dev/null 2>&1 < /dev/null &
echo $! > "$out/pid"
echo "launched $event of $out (pid $!): tail -f $out/metrics.jsonl; resume with the same command"
