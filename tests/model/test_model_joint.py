"""DiT4DiT joint module: presets (incl. the real 2B configuration on the meta device), training modes, predict."""
from __future__ import annotations

import json

import pytest
import torch

from dit4dit_ros.model.dit4dit import DiT4DiT, DiT4DiTConfig, available_presets, load_preset


def _batch(cfg: DiT4DiTConfig, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.video.image_size
    a = cfg.action
    return {
        "video": torch.rand(batch, cfg.video.num_frames, 3, h, w, generator=g),
        "state": torch.rand(batch, a.state_dim, generator=g) * 2 - 1,
        "action": torch.rand(batch, a.horizon, a.action_dim, generator=g) * 2 - 1,
        "action_mask": torch.ones(batch, a.horizon, a.action_dim),
        "prompt_embeds": torch.randn(batch, 8, cfg.video.prompt_embed_dim, generator=g),
    }


def _tiny(mode: str = "joint") -> DiT4DiT:
    torch.manual_seed(0)
    return DiT4DiT(load_preset("tiny", mode=mode))


def test_presets_exist_and_round_trip_through_json():
    assert {"tiny", "small", "cosmos-predict2.5-2b"} <= set(available_presets())
    for name in available_presets():
        cfg = load_preset(name)
        again = DiT4DiTConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again.to_dict() == cfg.to_dict()
        assert again.video.tau_f == cfg.video.tau_f


def test_2b_preset_is_the_published_configuration_on_meta():
    cfg = load_preset("cosmos-predict2.5-2b")
    with torch.device("meta"):
        model = DiT4DiT(cfg)
    transformer = model.video.transformer
    n_transformer = sum(p.numel() for p in transformer.parameters())
    n_action = sum(p.numel() for p in model.action.parameters())
    assert len(transformer.transformer_blocks) == 28
    assert 1.95e9 < n_transformer < 2.15e9
    assert 2.1e9 < n_transformer + n_action < 2.3e9  # the paper's "2.2 B trainable"
    assert cfg.video.hidden_size == 2048 and cfg.video.extract_layer == 17
    assert cfg.video.num_tokens == 588  # 3 latent frames x 14 x 14
    assert cfg.video.prompt_embed_dim == 28 * 3584
    assert cfg.video.frame_offsets == list(range(0, 17, 2))
    assert cfg.action.num_heads * cfg.action.head_dim == 768 and cfg.action.num_layers == 16
    assert model.action.cross_attention_dim == 2048


def test_load_preset_errors_and_overrides(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'nope'.*tiny"):
        load_preset("nope")
    assert load_preset("tiny", mode="action").mode == "action"
    assert load_preset("cosmos-predict2.5-2b", video_weights_dir="/weights").video.weights_dir == "/weights"
    bad = tmp_path / "bad.yaml"
    bad.write_text("video: {transformer: {in_channels: 5}}\naction: {}\n")
    with pytest.raises(ValueError, match="invalid preset .*missing"):
        load_preset(str(bad))
    with pytest.raises(ValueError, match="mode must be one of"):
        load_preset("tiny", mode="both")


def test_missing_weights_dir_is_a_clear_error(tmp_path):
    cfg = load_preset("tiny", video_weights_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="transformer/config.json"):
        DiT4DiT(cfg)


def test_joint_loss_and_detached_action_features():
    model = _tiny("joint").train()
    losses = model.loss(_batch(model.cfg), generator=torch.Generator().manual_seed(0))
    assert set(losses) == {"video", "action", "total"}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    assert torch.allclose(losses["total"], losses["video"] + losses["action"])
    losses["action"].backward(retain_graph=True)
    # the action loss does not reach the video trunk (features are detached) ...
    assert all(p.grad is None for p in model.video.transformer.parameters())
    assert model.action.action_decoder.layer2.weight.grad is not None
    losses["video"].backward()
    # ... the video loss does
    assert model.video.transformer.proj_out.weight.grad is not None


def test_video_mode_has_no_action_loss():
    model = _tiny("video").train()
    losses = model.loss(_batch(model.cfg), generator=torch.Generator().manual_seed(0))
    assert losses["action"].item() == 0.0 and losses["video"].item() > 0
    groups = model.param_groups()
    assert groups["action"] == [] and groups["backbone"]


def test_action_mode_freezes_backbone_and_has_no_video_loss():
    model = _tiny("action").train()
    batch = _batch(model.cfg)
    batch["video"] = batch["video"][:, :1]  # action mode only needs the observation frame
    losses = model.loss(batch, generator=torch.Generator().manual_seed(0))
    assert losses["video"].item() == 0.0 and losses["action"].item() > 0
    losses["total"].backward()
    assert all(p.grad is None for p in model.video.parameters())
    groups = model.param_groups()
    assert groups["backbone"] == [] and groups["action"]


def test_loss_missing_key_is_clear():
    model = _tiny("joint")
    batch = _batch(model.cfg)
    del batch["action_mask"]
    with pytest.raises(KeyError, match="action_mask"):
        model.loss(batch)


def test_predict_shape_and_determinism():
    model = _tiny("joint").train()
    b = _batch(model.cfg)
    obs = {"frames": b["video"][:, :1], "state": b["state"], "prompt_embeds": b["prompt_embeds"]}
    a1 = model.predict(obs, generator=torch.Generator().manual_seed(7))
    a2 = model.predict(obs, generator=torch.Generator().manual_seed(7))
    a3 = model.predict(obs, generator=torch.Generator().manual_seed(8))
    assert a1.shape == (2, model.cfg.action.horizon, model.cfg.action.action_dim)
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)
    assert model.training  # predict restored the training mode
    with pytest.raises(KeyError, match="frames"):
        model.predict({"state": b["state"], "prompt_embeds": b["prompt_embeds"]})


def test_action_context_tokens_must_match_the_video_token_count():
    small = load_preset("small")
    assert small.action.context_tokens == small.video.num_tokens  # the demo head learns one position per token
    d = small.to_dict()
    d["action"]["context_tokens"] = small.video.num_tokens - 1
    with pytest.raises(ValueError, match="context_tokens"):
        DiT4DiTConfig.from_dict(d)
    assert load_preset("cosmos-predict2.5-2b").action.context_tokens == 0  # official head: none
