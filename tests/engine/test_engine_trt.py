"""TensorRT engine on a GPU (scripts/gpu_check.sh runs these): same chunk as torch for the same noise within the
precision's accuracy, plans cached per GPU + TensorRT version + graph, the CUDA-graph action loop equal to the eager
one, stale engines refused. Skipped, with the reason, where there is no NVIDIA GPU or no tensorrt package."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch


def _why_not() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed (GPU machines: pip install -r requirements/gpu.txt)"
    if not torch.cuda.is_available():
        return "no CUDA device (this torch build or machine has no NVIDIA GPU)"
    return None


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))]
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "g1_reach_small"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from dit4dit_ros.engine.onnx_export import export_engine

    root = tmp_path_factory.mktemp("trt") / "ckpt"
    shutil.copytree(SHIPPED, root)
    for precision in ("fp32", "bf16"):
        export_engine(root, "tensorrt", precision)
    return root


def _inputs(engine, seed=0):
    rng = np.random.default_rng(seed)
    h, w = engine.image_size
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)], rng.uniform(-0.6, 0.6, len(engine.state_joint_names))


@pytest.mark.parametrize("precision,tolerance", [("fp32", 1e-3), ("bf16", 1e-1)])
def test_trt_chunk_equals_torch_for_the_same_noise(exported, precision, tolerance):
    from dit4dit_ros.engine import make_engine

    reference = make_engine("torch", str(exported), device="cuda")
    engine = make_engine("tensorrt", str(exported), device="cuda", precision=precision)
    assert list(engine.instructions) == list(reference.instructions)
    for seed in range(3):
        frames, q = _inputs(engine, seed)
        noise = reference.draw_noise()
        a = reference.predict(frames, q, reference.instructions[0], noise=noise)
        b = engine.predict(frames, q, engine.instructions[0], noise=noise)
        assert np.abs(a.actions_normalized - b.actions_normalized).max() <= tolerance, precision
        assert list(a.timings) == list(b.timings)


def test_plans_are_cached_and_the_cuda_graph_loop_is_exact(exported):
    from dit4dit_ros.engine import make_engine
    from dit4dit_ros.engine.manifest import engine_dir

    eager = make_engine("tensorrt", str(exported), device="cuda", precision="bf16")
    cache = engine_dir(exported, "tensorrt", "bf16") / "cache"
    plans = {p: p.stat().st_mtime_ns for p in cache.glob("*.plan")}
    assert len(plans) == 5 and any(cache.glob("timing-*.cache"))
    assert all(f"-trt{eager.trt_version.lower()}-" in p.name for p in plans)
    graph = make_engine("tensorrt", str(exported), device="cuda", precision="bf16", cuda_graph=True)
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.plan")} == plans  # reused, not rebuilt
    frames, q = _inputs(eager)
    for _ in range(3):  # the first call captures, the next ones replay
        noise = eager.draw_noise()
        a = eager.predict(frames, q, eager.instructions[0], noise=noise)
        b = graph.predict(frames, q, graph.instructions[0], noise=noise)
        assert np.abs(a.actions_normalized - b.actions_normalized).max() <= 1e-5
    assert "action_steps" in b.timings and "action_step_0" in a.timings


def test_stale_trt_engine_is_refused(exported, tmp_path):
    from dit4dit_ros.engine import make_engine
    from dit4dit_ros.engine.manifest import EngineError

    other = tmp_path / "ckpt"
    shutil.copytree(exported, other)
    cfg = (other / "config.json").read_text()
    (other / "config.json").write_text(cfg.replace('"name"', '"name" ', 1))  # same model, another file: other hash
    with pytest.raises(EngineError, match="stale engine .* config.json"):
        make_engine("tensorrt", str(other), device="cuda", precision="bf16")
