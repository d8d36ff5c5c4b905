"""TorchEngine: raw joints + uint8 frames + instruction in, raw chunk + timings out; strict input errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dit4dit_ros.engine import PolicyEngine, UnknownInstructionError, make_engine
from dit4dit_ros.engine.torch_engine import TorchEngine
from dit4dit_ros.model.checkpoint import save_checkpoint
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.normalization import NormalizationStats, StateActionCodec
from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

INSTRUCTIONS = ("pick up the red cup", "open the drawer")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_preset("tiny")
    model = DiT4DiT(cfg).eval()
    g = torch.Generator().manual_seed(1)
    cache = PromptEmbeddingCache("test-random", {
        i: torch.randn(6, cfg.video.prompt_embed_dim, generator=g) for i in INSTRUCTIONS})
    stats = NormalizationStats.for_layout(cfg.layout)
    root = tmp_path_factory.mktemp("engine_ckpt")
    save_checkpoint(root, model, stats, cache)
    return root, model, cfg, stats, cache


def inputs(engine, seed=0):
    rng = np.random.default_rng(seed)
    h, w = engine.image_size
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(engine.num_cond_frames)]
    q = rng.uniform(-0.5, 0.5, len(engine.state_joint_names))
    return frames, q


def test_predict_matches_model_and_reports_timings(ckpt):
    root, model, cfg, stats, cache = ckpt
    engine = make_engine("torch", str(root), seed=7)
    assert isinstance(engine, PolicyEngine)
    assert engine.instructions == INSTRUCTIONS and engine.horizon == cfg.action.horizon
    assert engine.action_joint_names == cfg.layout.action_joints and engine.image_size == (32, 32)
    frames, q = inputs(engine)
    out = engine.predict(frames, q, INSTRUCTIONS[0])
    assert out.actions.shape == (cfg.action.horizon, 14) and out.actions_normalized.shape == (cfg.action.horizon, 32)
    for stage in ("preprocess", "vae_encode", "video_trunk", "action_step_0", "action_step_3", "postprocess", "total"):
        assert out.timings[stage] >= 0.0
    assert out.timings["total"] >= out.timings["video_trunk"]
    # Same computation as DiT4DiT.predict with the same generator draws.
    codec = StateActionCodec(cfg.layout, stats, cfg.action.state_dim, cfg.action.action_dim)
    obs = {
        "frames": torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0).permute(0, 3, 1, 2)[None],
        "state": torch.from_numpy(codec.encode_state(q))[None],
        "prompt_embeds": cache.get(INSTRUCTIONS[0])[None],
    }
    ref = model.predict(obs, generator=torch.Generator().manual_seed(7))[0].numpy()
    assert np.allclose(out.actions_normalized, ref, atol=1e-5)
    assert np.allclose(out.actions, codec.unnormalize_action(ref), atol=1e-5)
    # raw actions stay inside the action statistics' range (min-max unnormalise clips)
    assert np.all(out.actions >= stats.action.min - 1e-9) and np.all(out.actions <= stats.action.max + 1e-9)
    # seeded engines are reproducible
    again = TorchEngine(str(root), seed=7).predict(frames, q, INSTRUCTIONS[0])
    assert np.array_equal(again.actions, out.actions)


def test_unknown_instruction_lists_known(ckpt):
    engine = TorchEngine(str(ckpt[0]))
    frames, q = inputs(engine)
    with pytest.raises(UnknownInstructionError) as err:
        engine.predict(frames, q, "dance")
    assert "'dance'" in str(err.value) and all(i in str(err.value) for i in INSTRUCTIONS)


def test_bad_frames_and_joints(ckpt):
    engine = TorchEngine(str(ckpt[0]))
    frames, q = inputs(engine)
    with pytest.raises(ValueError, match=r"frame 0 has shape \(16, 32, 3\), expected \(32, 32, 3\)"):
        engine.predict([frames[0][:16]], q, INSTRUCTIONS[0])
    with pytest.raises(ValueError, match="frame 0 has dtype float32, expected uint8"):
        engine.predict([frames[0].astype(np.float32)], q, INSTRUCTIONS[0])
    with pytest.raises(ValueError, match="expected 1 frame"):
        engine.predict(frames * 2, q, INSTRUCTIONS[0])
    with pytest.raises(ValueError, match="got one array"):
        engine.predict(frames[0], q, INSTRUCTIONS[0])
    with pytest.raises(ValueError, match=r"joint_positions has shape \(13,\), expected \(14,\)"):
        engine.predict(frames, q[:13], INSTRUCTIONS[0])
    q_bad = q.copy()
    q_bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        engine.predict(frames, q_bad, INSTRUCTIONS[0])


def test_make_engine_kinds(ckpt):
    with pytest.raises(ValueError, match="unknown engine kind 'jax'"):
        make_engine("jax", str(ckpt[0]))
    with pytest.raises(RuntimeError, match="CUDA is not available") if not torch.cuda.is_available() else _noop():
        make_engine("torch", str(ckpt[0]), device="cuda")


class _noop:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_bench_model_command(capsys):
    from dit4dit_ros.cli import main

    assert main(["bench", "model", "--preset", "tiny", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    for word in ("vae_encode", "video_trunk", "action_step_3", "total", "peak RSS", "trunk cost vs last executed"):
        assert word in out
