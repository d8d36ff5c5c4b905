#!/usr/bin/env bash
# The README's two entry points: `scripts/dev.sh demo` and `scripts/dev.sh test` (ruff, then pytest).
# Needs only Python 3.11 + pip + apt: creates or reuses .venv idempotently (re-installs only when a
# requirements file or setup.py changed), torch CPU first, then every pinned dependency.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${DIT4DIT_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

# All DDS traffic of demos and tests stays on loopback; MuJoCo renders offscreen through EGL.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export MUJOCO_GL="${MUJOCO_GL:-egl}"

system_deps() {
  # MuJoCo's offscreen renderer needs EGL + Mesa's software rasterizer (no GPU here); the ROS message packages
  # under interfaces/ (tf2_msgs: no wheel exists) need cmake, ninja and a compiler; the Rerun web-viewer test
  # drives a headless Chromium.
  local missing=()
  { ldconfig -p | grep -q 'libEGL.so.1' && ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1; } \
    || missing+=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  command -v g++ >/dev/null || missing+=(g++)
  command -v chromium >/dev/null || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
  fi
}

setup_venv() {
  local stamp="$VENV/.installed" want
  want="$(cat requirements/*.txt setup.py pyproject.toml $(find interfaces -type f | sort) | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$PY" ]; then return 0; fi
  system_deps
  [ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip==25.3
  "$PY" -m pip install -q torch==2.13.0            # the CPU wheel on local disk, before anything needs torch
  "$PY" -m pip install -q -r requirements/base.txt -r requirements/dev.txt
  "$PY" -m pip install -q --no-deps -r requirements/nodeps.txt
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .
  bash scripts/build_interfaces.sh "$VENV"        # tf2_msgs for /tf (skipped where the venv has it)
  "$PY" -c "import torch; v = torch.__version__; assert v.endswith('+cpu') or torch.cuda.is_available(), v"
  echo "$want" > "$stamp"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup) setup_venv ;;
  demo)  setup_venv; exec "$VENV/bin/dit4dit" demo "$@" ;;
  test)  setup_venv; "$VENV/bin/ruff" check dit4dit_ros tests launch scripts setup.py; exec "$PY" -m pytest tests "$@" ;;
  *) echo "usage: scripts/dev.sh {setup|demo|test} [args...]" >&2; exit 2 ;;
esac
