"""Video backbone: hooked/truncated trunk vs diffusers' own forward, first-frame VAE conditioning, determinism."""
from __future__ import annotations

import copy
import threading
import types

import pytest
import torch
import torch.nn.functional as F

from dit4dit_ros.model.cosmos_trunk import full_forward
from dit4dit_ros.model.dit4dit import load_preset
from dit4dit_ros.model.hook import BlockOutputCapture
from dit4dit_ros.model.video_backbone import VideoBackbone, VideoBackboneConfig


def _tiny_cfg(**changes) -> VideoBackboneConfig:
    cfg = copy.deepcopy(load_preset("tiny").video)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def backbone() -> VideoBackbone:
    torch.manual_seed(0)
    return VideoBackbone(_tiny_cfg()).eval()


def _inputs(bb: VideoBackbone, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = bb.cfg.image_size
    clip = torch.rand(batch, bb.cfg.num_frames, 3, h, w, generator=g)
    prompt = torch.randn(batch, 8, bb.cfg.prompt_embed_dim, generator=g)
    return clip, prompt


def _model_inputs(bb: VideoBackbone, clip: torch.Tensor, seed: int = 1):
    """What the pipeline feeds the transformer at the first sigma: pinned cond latents, noise elsewhere."""
    batch = clip.shape[0]
    cond = bb.encode(bb._pixels(clip[:, :1], "frames", 1))
    latents = bb._feature_latents(cond, torch.Generator().manual_seed(seed))
    indicator, cond_mask, padding = bb._masks(batch, latents.device)
    timestep = bb._timestep(indicator, torch.full((batch,), bb.cfg.tau_f))
    return latents, timestep, cond_mask, padding


def _torchvision_resize_shim():
    """diffusers' forward resizes the padding mask with torchvision (not installable here): same op via interpolate."""
    resize = lambda x, size, interpolation: F.interpolate(x, size=size, mode="nearest")  # noqa: E731
    return types.SimpleNamespace(
        functional=types.SimpleNamespace(resize=resize), InterpolationMode=types.SimpleNamespace(NEAREST="nearest")
    )


@pytest.mark.parametrize("concat_padding_mask", [True, False])
def test_hooked_tokens_and_output_equal_diffusers_forward(monkeypatch, concat_padding_mask):
    import diffusers.models.transformers.transformer_cosmos as cosmos_module

    if concat_padding_mask:
        monkeypatch.setattr(cosmos_module, "transforms", _torchvision_resize_shim(), raising=False)
    cfg = _tiny_cfg()
    cfg.transformer["concat_padding_mask"] = concat_padding_mask
    torch.manual_seed(0)
    bb = VideoBackbone(cfg).eval()
    clip, prompt = _inputs(bb)
    latents, timestep, cond_mask, padding = _model_inputs(bb, clip)
    block = bb.transformer.transformer_blocks[cfg.extract_layer]
    with torch.no_grad(), BlockOutputCapture(block, threading.Lock()) as capture:
        reference = bb.transformer(
            hidden_states=latents, timestep=timestep, encoder_hidden_states=prompt,
            condition_mask=cond_mask, padding_mask=padding, return_dict=False,
        )[0]
        reference_tokens = capture.output
    with torch.no_grad():
        ours = bb.trunk_features(latents, timestep, prompt, cond_mask, padding)
        ours_full = full_forward(bb.transformer, latents, timestep, prompt, cond_mask, padding)
    assert ours.shape == (2, cfg.num_tokens, cfg.hidden_size)
    assert (ours - reference_tokens).abs().max().item() < 1e-5
    assert (ours_full - reference).abs().max().item() < 1e-5
    assert not block._forward_hooks  # the capture hook is gone


def test_truncated_trunk_skips_later_blocks(backbone):
    clip, prompt = _inputs(backbone)
    calls: list[int] = []
    handles = [
        blk.register_forward_pre_hook(lambda m, a, i=i: calls.append(i))
        for i, blk in enumerate(backbone.transformer.transformer_blocks)
    ]
    try:
        g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
        feats = backbone.features(clip[:, :1], prompt, generator=g())
        truncated_calls = list(calls)
        calls.clear()
        feats_full = backbone.features(clip[:, :1], prompt, generator=g(), last_block=backbone.cfg.num_layers - 1)
    finally:
        for h in handles:
            h.remove()
    assert truncated_calls == list(range(backbone.cfg.extract_layer + 1))
    assert calls == list(range(backbone.cfg.num_layers))
    assert torch.equal(feats, feats_full)
    assert not feats.requires_grad


def test_hook_removed_and_lock_released_after_error(backbone):
    clip, prompt = _inputs(backbone)
    latents, timestep, cond_mask, padding = _model_inputs(backbone, clip)
    with pytest.raises(ValueError, match="timestep must have shape"):
        backbone.trunk_features(latents, timestep[:, :, :1], prompt, cond_mask, padding)
    block = backbone.transformer.transformer_blocks[backbone.cfg.extract_layer]
    assert not block._forward_hooks
    assert not backbone._capture_lock.locked()
    with pytest.raises(RuntimeError, match="did not run"):
        with BlockOutputCapture(block, threading.Lock()) as capture:
            capture.output


def test_features_thread_safe(backbone):
    inputs = [_inputs(backbone, batch=1, seed=s) for s in range(4)]
    expected = [backbone.features(c[:, :1], p, generator=torch.Generator().manual_seed(9)) for c, p in inputs]
    results: dict[int, torch.Tensor] = {}

    def work(i: int) -> None:
        for _ in range(3):
            c, p = inputs[i]
            results[i] = backbone.features(c[:, :1], p, generator=torch.Generator().manual_seed(9))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(torch.equal(results[i], expected[i]) for i in range(4))


def test_first_frame_encode_equals_padded_clip_encode(backbone):
    clip, _ = _inputs(backbone)
    first = backbone._pixels(clip[:, :1], "frames", 1)
    padded = torch.cat([first, torch.zeros_like(first).repeat(1, 1, backbone.cfg.num_frames - 1, 1, 1)], dim=2)
    alone = backbone.encode(first)
    full = backbone.encode(padded)
    assert alone.shape[2] == 1 and full.shape[2] == backbone.cfg.num_latent_frames
    assert (alone - full[:, :, :1]).abs().max().item() < 1e-5
    # and the real clip's later frames do not change latent frame 0 (causality)
    assert (backbone.encode(backbone._pixels(clip, "clip", backbone.cfg.num_frames))[:, :, :1] - alone).abs().max() < 1e-5


def test_features_deterministic_with_generator(backbone):
    clip, prompt = _inputs(backbone)
    a = backbone.features(clip[:, :1], prompt, generator=torch.Generator().manual_seed(5))
    b = backbone.features(clip[:, :1], prompt, generator=torch.Generator().manual_seed(5))
    c = backbone.features(clip[:, :1], prompt, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_training_forward_loss_and_detached_features():
    torch.manual_seed(0)
    bb = VideoBackbone(_tiny_cfg()).train()
    clip, prompt = _inputs(bb)
    loss, feats = bb.training_forward(clip, prompt, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert feats.shape == (2, bb.cfg.num_tokens, bb.cfg.hidden_size) and not feats.requires_grad
    loss.backward()
    assert bb.transformer.proj_out.weight.grad is not None
    assert all(p.grad is None for p in bb.vae.parameters())
    # tokens at tau_f in training equal the inference tokens for the same noise (no future leaks in)
    g = torch.Generator().manual_seed(0)
    bb.sample_time(2, g, torch.device("cpu"))
    torch.randn((2, 4, bb.cfg.num_latent_frames) + bb.cfg.latent_size, generator=g)
    infer = bb.features(clip[:, :1], prompt, generator=g)
    assert (infer - feats).abs().max().item() < 1e-5


def test_tau_f_is_first_sigma_of_pipeline_scheduler():
    from diffusers import UniPCMultistepScheduler

    sched = UniPCMultistepScheduler(
        use_karras_sigmas=True, use_flow_sigmas=True, prediction_type="flow_prediction", sigma_max=200.0, sigma_min=0.01
    )
    sched.set_timesteps(10)
    cfg = _tiny_cfg()
    assert cfg.tau_f == pytest.approx(0.99502486, abs=1e-7)
    assert float(sched.sigmas[0]) == pytest.approx(cfg.tau_f, abs=1e-6)


def test_latent_normalisation_conventions():
    torch.manual_seed(0)
    pipe = VideoBackbone(_tiny_cfg(latent_norm="pipeline"))
    x = torch.randn(1, 4, 1, 2, 2)
    pipe.latents_mean.fill_(0.5)
    pipe.latents_std.fill_(2.0)
    assert torch.allclose(pipe.normalize_latents(x), (x - 0.5) / 2.0)
    pipe.cfg.latent_norm = "official"
    assert torch.allclose(pipe.normalize_latents(x), (x - 0.5) * 2.0)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"image_size": (30, 32)}, "multiples of 16"),
        ({"extract_layer": 3}, "extract_layer"),
        ({"num_frames": 6}, "num_frames must be 1 \\+ 4k"),
        ({"num_cond_frames": 5}, "num_cond_frames"),
        ({"latent_norm": "other"}, "latent_norm"),
    ],
)
def test_config_validation(changes, match):
    d = _tiny_cfg().to_dict()
    d.update(changes)
    with pytest.raises(ValueError, match=match):
        VideoBackboneConfig.from_dict(d)


def test_bad_frames_are_clear_errors(backbone):
    clip, prompt = _inputs(backbone)
    with pytest.raises(ValueError, match="cond_frames must have shape"):
        backbone.features(clip[:, :1, :, :16], prompt)
    with pytest.raises(ValueError, match="prompt_embeds must have shape"):
        backbone.features(clip[:, :1], prompt[..., :10])


def test_trunk_benches_report_depth_scaling(backbone):
    from dit4dit_ros.model.trunk_bench import format_scaling, time_truncated_vs_full, trunk_cost_scaling

    rows = trunk_cost_scaling(backbone, layers=[0], repeats=1, warmup=0)
    n = backbone.cfg.num_layers
    assert [r.last_block for r in rows] == [0, n - 1]
    assert rows[0].expected_ratio == pytest.approx(1 / n) and rows[-1].expected_ratio == pytest.approx(1.0)
    assert all(r.seconds > 0 for r in rows)
    assert "last_block" in format_scaling(rows)
    summary = time_truncated_vs_full(backbone, repeats=1, warmup=0)
    assert summary["truncated_s"] > 0 and summary["full_s"] > 0 and summary["num_layers"] == n
    with pytest.raises(ValueError, match="layers must be in"):
        trunk_cost_scaling(backbone, layers=[n], repeats=1, warmup=0)
