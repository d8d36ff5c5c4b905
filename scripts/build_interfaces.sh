#!/usr/bin/env bash
# Build the ROS 2 message packages under interfaces/ into a venv that gets ROS 2 from PyPI wheels.
# Only packages the venv cannot import yet are built (a machine with a ROS distro has them already).
# Needs cmake, ninja and a C/C++ compiler (scripts/dev.sh installs them) and the rosidl generator wheels
# (requirements/dev.txt). About 15 s per package on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:?usage: build_interfaces.sh VENV}"
PY="$VENV/bin/python"
for pkg_dir in "$ROOT"/interfaces/*/; do
  pkg="$(basename "$pkg_dir")"
  if "$PY" -c "import importlib, sys; importlib.import_module('$pkg.msg')" >/dev/null 2>&1; then continue; fi
  build="$(mktemp -d "${TMPDIR:-/tmp}/dit4dit_iface_${pkg}_XXXX")"
  echo "building ROS interface package $pkg into $VENV"
  # The ROS wheels' bootstrapper sets LD_LIBRARY_PATH when Python starts; cmake needs the prefix paths itself.
  AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" \
    cmake -S "$pkg_dir" -B "$build" -G Ninja -DCMAKE_INSTALL_PREFIX="$VENV" -DBUILD_TESTING=OFF \
      -DPython3_EXECUTABLE="$PY" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log" >&2; exit 1; }
  AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" cmake --build "$build" --target install >"$build/build.log" 2>&1 \
    || { tail -50 "$build/build.log" >&2; exit 1; }
  "$PY" -c "import importlib; importlib.import_module('$pkg.msg')" \
    || { echo "built $pkg but python cannot import it" >&2; exit 1; }
  rm -rf "$build"
done
