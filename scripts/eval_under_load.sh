#!/usr/bin/env bash
# Evaluation you can trust under load (issue 13.7): the same checkpoint on the same seeds through the graph,
# once on an idle machine and once beside K busy processes; prints both success counts.
#
#   bash scripts/eval_under_load.sh [CHECKPOINT] [EPISODES] [K]     (defaults: models/g1_reach_small 20 2)
#
# The busy processes are shell loops started before the second run and killed by their own PIDs after it.
# Results (JSON per run, its output and every node's log) go to $OUT (default: a new temporary directory), whose path is printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CKPT="${1:-$ROOT/models/g1_reach_small}"; EPISODES="${2:-20}"; HOGS="${3:-2}"
OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/eval_under_load.XXXXXX")}"; mkdir -p "$OUT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "no $PY: run scripts/dev.sh setup first" >&2; exit 2; }
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST DIT4DIT_UNITREE_INTERFACE=lo
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((1 + $$ % 100))}" DIT4DIT_UNITREE_DOMAIN="${DIT4DIT_UNITREE_DOMAIN:-$((120 + $$ % 100))}"
PIDS=()
stop_hogs() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop_hogs EXIT

run() {  # name
  local start=$SECONDS
  "$PY" -m dit4dit_ros.cli eval --checkpoint "$CKPT" --episodes "$EPISODES" --json "$OUT/$1.json" \
    --log-dir "$OUT/$1-logs" > "$OUT/$1.log" 2>&1 || echo "$1: eval exited with status $? (see $OUT/$1.log and $OUT/$1-logs/)"
  [ -f "$OUT/$1.json" ] || return 0
  "$PY" - "$OUT/$1.json" "$1" $((SECONDS - start)) <<'PYEOF'
import json, sys
data = json.load(open(sys.argv[1]))
episodes = data["per_episode"]
ok = [e["seed"] for e in episodes if e["success"]]
print(f"{sys.argv[2]}: {len(ok)}/{len(episodes)} successes in {sys.argv[3]} s; successful seeds {ok}")
PYEOF
  grep -h "^graph runtime" "$OUT/$1.log" || true  # how late chunks reached the executor, the waits that ran out
}

echo "results in $OUT"
run idle
for _ in $(seq 1 "$HOGS"); do (while :; do :; done) & PIDS+=($!); done
run "busy$HOGS"
stop_hogs
# where the two runs part, if they do (per seed: the first chunk whose frame, state pairing, inputs or output differ)
if [ -f "$OUT/idle.json" ] && [ -f "$OUT/busy$HOGS.json" ]; then
  "$PY" -m dit4dit_ros.evaluation.compare "$OUT/idle.json" "$OUT/busy$HOGS.json"
fi
