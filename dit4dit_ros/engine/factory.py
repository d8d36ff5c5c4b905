"""Resolve an engine kind to its backend: a table of module names, imported only when that kind is asked for.

Why a table and not imports: the interface (engine/base.py) must not depend on its implementations, and a machine
without TensorRT (or onnxruntime) must still run the others. Each backend module exposes `make(checkpoint_dir,
**options) -> PolicyEngine`.
"""
from __future__ import annotations

import importlib
from typing import Any

from dit4dit_ros.engine.base import PolicyEngine

#: engine kind -> the module implementing it
ENGINE_BACKENDS: dict[str, str] = {
    "torch": "dit4dit_ros.engine.torch_engine",
    "onnxruntime": "dit4dit_ros.engine.ort_engine",
    "tensorrt": "dit4dit_ros.engine.trt_engine",
}
ENGINE_KINDS: tuple[str, ...] = tuple(ENGINE_BACKENDS)


def make_engine(kind: str, checkpoint_dir: str, device: str = "cpu", **options: Any) -> PolicyEngine:
    """Build the engine of `kind` for a checkpoint directory (see model/checkpoint.py).

    Common options: seed (None = random), num_steps, num_threads (CPU threads, 0 = the library's default);
    exported engines also take precision (which export under <checkpoint>/engines/ to run).
    """
    if kind not in ENGINE_BACKENDS:
        raise ValueError(f"unknown engine kind {kind!r}; expected one of {ENGINE_KINDS}")
    module = importlib.import_module(ENGINE_BACKENDS[kind])
    return module.make(checkpoint_dir, device=device, **options)
