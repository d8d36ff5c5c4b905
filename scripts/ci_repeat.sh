#!/usr/bin/env bash
# Flakiness evidence: N consecutive CI runs, each on a fresh clone of this repository at HEAD.
#
#   bash scripts/ci_repeat.sh N [--hog K] [--hog-runs M] [--keep]
#
# Each run clones HEAD into a new temporary directory and runs `CI=true bash .ci/run` there (a fresh .venv,
# exactly what CI does). With --hog K, the last M runs (default 3; --hog-runs) have K busy processes beside
# the suite (one shell busy loop each, started before the run and killed by their own PIDs after it). Prints
# one line per run (result, wall time, log) and a summary; exits 1 if any run failed. Logs and clones are
# removed unless --keep (a failed run's log is always kept and its path printed).
set -euo pipefail

usage() { echo "usage: scripts/ci_repeat.sh N [--hog K] [--hog-runs M] [--keep]" >&2; exit 2; }
[ $# -ge 1 ] || usage
RUNS="$1"; shift
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer, got '$RUNS'" >&2; usage; }
HOG=0; HOG_RUNS=3; KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --hog) HOG="${2:?--hog needs a count}"; shift 2 ;;
    --hog-runs) HOG_RUNS="${2:?--hog-runs needs a count}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$HOG" =~ ^[0-9]+$ && "$HOG_RUNS" =~ ^[0-9]+$ ]] || { echo "--hog and --hog-runs take non-negative integers" >&2; usage; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HEAD="$(git -C "$ROOT" rev-parse HEAD)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ci_repeat.XXXXXX")"
HOG_PIDS=()

stop_hogs() {
  local pid
  for pid in "${HOG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  HOG_PIDS=()
}
cleanup() { stop_hogs; [ "$KEEP" = 1 ] || rm -rf "$WORK/clone"*; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "ci_repeat: $RUNS fresh-clone CI runs of $HEAD ($(nproc) CPUs); $HOG busy processes in the last $HOG_RUNS"
failures=0; summary=()
for i in $(seq 1 "$RUNS"); do
  hogs=0
  if [ "$HOG" -gt 0 ] && [ "$i" -gt $((RUNS - HOG_RUNS)) ]; then hogs="$HOG"; fi
  clone="$WORK/clone$i"; log="$WORK/run$i.log"
  git clone -q --no-local "$ROOT" "$clone"
  git -C "$clone" checkout -q "$HEAD"
  for _ in $(seq 1 "$hogs"); do ( while :; do :; done ) & HOG_PIDS+=("$!"); done
  start=$(date +%s)
  if (cd "$clone" && CI=true bash .ci/run) >"$log" 2>&1; then result=pass; else result=FAIL; failures=$((failures + 1)); fi
  wall=$(( $(date +%s) - start ))
  stop_hogs
  tail_line="$(grep -E '^(=+ )?[0-9]+ (passed|failed)|passed|failed' "$log" | tail -1 || true)"
  line="run $i/$RUNS: $result in ${wall} s, $hogs busy processes; ${tail_line:-no pytest summary}"
  echo "$line"; summary+=("$line")
  [ "$result" = pass ] && [ "$KEEP" = 0 ] && rm -f "$log"
  [ "$result" = FAIL ] && echo "  log: $log"
  [ "$KEEP" = 1 ] || rm -rf "$clone"
done
echo "ci_repeat: $failures failure(s) in $RUNS runs of $HEAD"
[ "$failures" = 0 ]
