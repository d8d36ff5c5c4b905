"""TensorRT plans from the exported ONNX stages, cached per GPU model, TensorRT version and graph.

Building a plan for the 2B trunk takes minutes, so a plan is built once and kept in <engine dir>/cache/ under a key
made of the GPU model, the TensorRT version and the graph's sha256 (a plan is only valid for the GPU and the
TensorRT build that made it, and only for that graph). The builder's timing cache (one per GPU model and TensorRT
version, next to the plans) makes rebuilds of similar graphs fast. TensorRT 11 networks are strongly typed: the
precision comes from the graph (engine/onnx_export.py), no builder flag is involved.

`tensorrt` is imported inside the functions: nothing here is needed, or importable, on a machine without it.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from dit4dit_ros.engine.manifest import EngineError

log = logging.getLogger(__name__)
WORKSPACE_BYTES = 8 << 30


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineError("the tensorrt engine needs the `tensorrt` Python package and an NVIDIA GPU (install the GPU "
                          "requirements: requirements/gpu.txt)") from exc
    return tensorrt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def plan_key(gpu_name: str, trt_version: str, onnx_sha256: str) -> str:
    """The cache name of a plan: what it is valid for."""
    return f"{_slug(gpu_name)}-trt{_slug(trt_version)}-{onnx_sha256[:16]}"


def _logger(trt: Any) -> Any:
    return trt.Logger(trt.Logger.WARNING)


def build_plan(onnx_path: Path, timing_cache_path: Path, workspace_bytes: int = WORKSPACE_BYTES) -> bytes:
    """Parse an ONNX graph (external weights next to it are found by path) and build a serialized plan."""
    trt = import_tensorrt()
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # strongly typed: the only kind of network in TensorRT 11
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"{onnx_path}: TensorRT cannot parse the graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    cache_bytes = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(cache_bytes), False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"{onnx_path}: TensorRT failed to build a plan (see the TensorRT log above)")
    _write_atomic(timing_cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(plan))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_plan(onnx_path: Path, onnx_sha256: str, cache_dir: Path, gpu_name: str) -> bytes:
    """The plan of `onnx_path` for this GPU and TensorRT version: read from the cache or built and stored."""
    trt = import_tensorrt()
    version = str(trt.__version__)
    path = cache_dir / f"{onnx_path.stem}-{plan_key(gpu_name, version, onnx_sha256)}.plan"
    if path.is_file():
        return path.read_bytes()
    log.info("building the TensorRT plan of %s for %s (TensorRT %s); cached at %s", onnx_path.name, gpu_name,
             version, path)
    plan = build_plan(onnx_path, cache_dir / f"timing-{_slug(gpu_name)}-trt{_slug(version)}.cache")
    _write_atomic(path, plan)
    return plan
