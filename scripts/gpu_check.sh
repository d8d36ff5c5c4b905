#!/usr/bin/env bash
# The GPU checks of the inference engines, in one go, on a machine with an NVIDIA GPU (H100/H200 class for the 2B
# figures): the engine tests (ONNX Runtime parity, TensorRT parity/plan cache/CUDA graph, marked `gpu`), then
# `dit4dit bench model` at the 2B preset, torch against TensorRT (bf16), and the FLOPs count it is read against.
#   bash scripts/gpu_check.sh [extra pytest args]
# Needs the project's venv (bash scripts/dev.sh setup; on a GPU machine pip's torch 2.13.0 is the CUDA build) and
# TensorRT (requirements/gpu.txt, installed here if missing). Prints every figure; asserts nothing beyond the tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${DIT4DIT_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST

[ -x "$PY" ] || bash scripts/dev.sh setup
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch ' + torch.__version__)"
"$PY" -c "import tensorrt" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0 -r requirements/gpu.txt
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, tensorrt; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| tensorrt', tensorrt.__version__)"

echo "== engine tests (parity: torch vs ONNX Runtime vs TensorRT; gpu-marked tests run here) =="
"$PY" -m pytest tests/engine -m "not sim" -q -rs "$@"

echo "== FLOPs of one policy step at the 2B preset (meta device) =="
"$VENV/bin/dit4dit" bench flops --preset cosmos-predict2.5-2b

echo "== bench model: 2B preset, torch (fp32, bf16) vs TensorRT (bf16; eager and CUDA-graph action loop) =="
timeout 2400 "$VENV/bin/dit4dit" bench model --preset cosmos-predict2.5-2b \
  --engine torch,torch:bf16,tensorrt,tensorrt+graph --device cuda --repeats 20 --warmup 3 --no-scaling
