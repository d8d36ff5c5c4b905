"""The engine interface resolves backends by name and imports none of them itself."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dit4dit_ros.engine import ENGINE_KINDS, make_engine
from dit4dit_ros.engine.factory import ENGINE_BACKENDS


def test_interface_and_factory_import_no_backend():
    code = ("import sys, dit4dit_ros.engine, dit4dit_ros.engine.base, dit4dit_ros.engine.factory\n"
            "print(sorted(m for m in sys.modules if m.startswith('dit4dit_ros.engine.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    loaded = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own printed list
    assert "dit4dit_ros.engine.base" in loaded and "dit4dit_ros.engine.factory" in loaded
    assert not set(loaded) & set(ENGINE_BACKENDS.values()), loaded


def test_every_kind_has_a_backend_with_make():
    import importlib

    assert ENGINE_KINDS == ("torch", "onnxruntime", "tensorrt")
    for kind, module in ENGINE_BACKENDS.items():
        assert callable(importlib.import_module(module).make), kind
    with pytest.raises(ValueError, match="unknown engine kind 'jax'; expected one of"):
        make_engine("jax", "/nowhere")


def test_tensorrt_export_here_and_a_clear_error_without_a_gpu(tmp_path, capsys):
    """On this machine (no GPU) the tensorrt graphs export (bf16, checked; their parity is checked on the GPU) and
    the tensorrt engine refuses at once, naming what is missing."""
    import torch

    from dit4dit_ros.cli import main
    from dit4dit_ros.engine.manifest import EngineError, engine_dir, load_manifest
    from dit4dit_ros.model.checkpoint import save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    try:
        import tensorrt  # noqa: F401

        if torch.cuda.is_available():
            pytest.skip("this machine has TensorRT and a GPU: tests/engine/test_engine_trt.py covers it")
    except ImportError:
        pass
    torch.manual_seed(0)
    cfg = load_preset("tiny")
    cache = PromptEmbeddingCache("test", {"go": torch.randn(5, cfg.video.prompt_embed_dim)})
    save_checkpoint(tmp_path, DiT4DiT(cfg), NormalizationStats.for_layout(cfg.layout), cache)
    assert main(["export-engine", "--checkpoint", str(tmp_path), "--engine", "tensorrt"]) == 0
    out = capsys.readouterr().out
    assert "exported tensorrt-bf16" in out and "built on first use on the GPU machine" in out
    manifest = load_manifest(engine_dir(tmp_path, "tensorrt", "bf16"))
    assert manifest.precision == "bf16" and all(e.parity_max_abs_diff is None for e in manifest.stages.values())
    with pytest.raises(EngineError, match="tensorrt engine needs the `tensorrt` Python package and an NVIDIA GPU"
                                          "|runs on a CUDA device"):
        make_engine("tensorrt", str(tmp_path), device="cuda")
