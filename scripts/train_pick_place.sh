#!/usr/bin/env bash
# The pick_place recipe (issue 15.5) as one resumable pipeline: scripted-expert demonstrations, a joint stage whose
# video branch starts from the reach model's trunk, an action-only stage, then graph, direct and blind evaluations.
#
#   bash scripts/train_pick_place.sh [RUN_DIR] [STAGE...]      (default runs/pick_place; stages: all)
#
# Stages: collect stage1 stage2 eval. Each stage skips work already done, so the script can be stopped (kill its
# PID) and started again: collection is skipped once the dataset validated, training resumes from the newest
# checkpoint (`--resume auto`), and an evaluation whose JSON exists is not rerun. Steps, batch sizes and the
# learning rate are those of models/g1_reach_small (its MODEL_CARD.md), with 1 torch thread (a shared CPU).
# Environment overrides: EPISODES (300), STAGE1_STEPS (5000), STAGE2_STEPS (1500), EVAL_EPISODES (20),
# DEVICE (cpu; cuda on a GPU machine), WORKERS (2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${1:-$ROOT/runs/pick_place}"; shift || true
STAGES=("$@"); [ "${#STAGES[@]}" -gt 0 ] || STAGES=(collect stage1 stage2 eval)
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "no $PY: run scripts/dev.sh setup first" >&2; exit 2; }
EPISODES="${EPISODES:-300}"; STAGE1_STEPS="${STAGE1_STEPS:-5000}"; STAGE2_STEPS="${STAGE2_STEPS:-1500}"
EVAL_EPISODES="${EVAL_EPISODES:-20}"; DEVICE="${DEVICE:-cpu}"; WORKERS="${WORKERS:-2}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST DIT4DIT_UNITREE_INTERFACE=lo MUJOCO_GL="${MUJOCO_GL:-egl}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((1 + $$ % 100))}" DIT4DIT_UNITREE_DOMAIN="${DIT4DIT_UNITREE_DOMAIN:-$((120 + $$ % 100))}"
DATA="$RUN/data"; S1="$RUN/stage1"; S2="$RUN/stage2"; EVAL="$RUN/eval"
mkdir -p "$RUN"
dit4dit() { "$PY" -m dit4dit_ros.cli "$@"; }
step_dir() { printf '%s/checkpoints/step_%07d' "$1" "$2"; }
has_checkpoint() { compgen -G "$1/checkpoints/step_*/trainer_state.pt" >/dev/null; }

collect() {
  if [ -f "$DATA/meta/info.json" ]; then echo "collect: $DATA exists, skipped"; return; fi
  # DART noise 0.03 rad (0.08 made the grasp fail too often); the expert drops about one seed in five under it
  dit4dit collect-sim --task pick_place --episodes "$EPISODES" --seed 3000 --perturb 0.03 \
    --max-failures "$EPISODES" --workers "$WORKERS" --out "$DATA" --overwrite
}

train() {  # out steps extra-args...: resume when a checkpoint exists, else start with the given arguments
  local out="$1" steps="$2"; shift 2
  if [ -f "$(step_dir "$out" "$steps")/trainer_state.pt" ]; then echo "train: $out has step $steps, skipped"; return; fi
  local start=("$@"); has_checkpoint "$out" && start=(--resume auto)
  dit4dit train-demo --dataset "$DATA" --out "$out" --steps "$steps" --state-noise 0.1 --threads 1 \
    --save-every 250 --device "$DEVICE" "${start[@]}"
}

stage1() { train "$S1" "$STAGE1_STEPS" --batch-size 8 --init-video-from "$ROOT/models/g1_reach_small"; }

stage2() {
  train "$S2" "$STAGE2_STEPS" --batch-size 32 --lr 3e-4 --warmup-steps 50 --mode action \
    --init-from "$(step_dir "$S1" "$STAGE1_STEPS")"
}

evaluate() {
  local ckpt; ckpt="$(step_dir "$S2" "$STAGE2_STEPS")"
  mkdir -p "$EVAL"
  local name args
  for name in graph direct blind; do
    [ -f "$EVAL/$name.json" ] && { echo "eval: $EVAL/$name.json exists, skipped"; continue; }
    case "$name" in
      graph) args=(--mode graph --log-dir "$EVAL/graph-logs") ;;
      direct) args=(--mode direct) ;;
      blind) args=(--mode direct --blind) ;;
    esac
    dit4dit eval --checkpoint "$ckpt" --task pick_place --episodes "$EVAL_EPISODES" --duration 8 --threads 1 \
      "${args[@]}" --json "$EVAL/$name.json.part" && mv "$EVAL/$name.json.part" "$EVAL/$name.json"
  done
}

for stage in "${STAGES[@]}"; do
  case "$stage" in
    collect) collect ;;
    stage1) stage1 ;;
    stage2) stage2 ;;
    eval) evaluate ;;
    *) echo "unknown stage '$stage' (collect, stage1, stage2, eval)" >&2; exit 2 ;;
  esac
done
