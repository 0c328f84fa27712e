#!/usr/bin/env bash
# Run the lines of a plan file one after another, detached from this shell: one single-thread run at a time.
# Usage: bash experiments/bai2018/queue.sh PLAN      e.g. experiments/bai2018/plan_a.txt
# Each line of PLAN is `[TAG=...] TASK MODEL SEED [atrous train options]` (blank lines and # comments skipped),
# run with launch.sh in the foreground, so a finished run returns at once and a killed one resumes: start the
# same queue again after an interruption. Two queues on two plan files use two cores. The queue's own log is
# $RUNS/queue-PLANNAME.log and its process id $RUNS/queue-PLANNAME.pid (stop it and its current run with
# `kill -- -$(cat that.pid)`). Environment: as launch.sh (PYTHON, RUNS).
set -euo pipefail
if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
plan=$1
[ -f "$plan" ] || { echo "queue.sh: PLAN must be a file, got '$plan'" >&2; exit 2; }
RUNS=${RUNS:-runs/bai2018}
mkdir -p "$RUNS"
name=$(basename "$plan" .txt)
here=$(cd "$(dirname "$0")" && pwd)
export RUNS
nohup setsid bash -c '
  plan=$1; here=$2
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    [ -z "${line// }" ] && continue
    set -- $line
    tag=
    case $1 in TAG=*) tag=${1#TAG=}; shift ;; esac
    echo "$(date -u +%FT%TZ) $line"
    TAG=$tag FOREGROUND=1 bash "$here/launch.sh" "$@" || echo "$(date -u +%FT%TZ) failed: $line"
  done < "$plan"
  echo "$(date -u +%FT%TZ) queue done"
' queue "$plan" "$here" >> "$RUNS/queue-$name.log" 2>&1 < /dev/null &
echo $! > "$RUNS/queue-$name.pid"
echo "queue $plan started (pid $!): tail -f $RUNS/queue-$name.log"
