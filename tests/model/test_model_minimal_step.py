"""The FLOPs-minimal step gives the same outputs as the straightforward one (fp32, max |diff| <= 1e-5):
text conditioning once per instruction, visual keys/values once per chunk, explicit noise, stage callbacks."""
from __future__ import annotations

import copy
import threading
import types

import pytest
import torch
import torch.nn.functional as F
from diffusers import CosmosTransformer3DModel

from dit4dit_ros.model.action_dit import ActionDiT, ActionDiTConfig
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.flow_matching import euler_time_grid
from dit4dit_ros.model.hook import BlockOutputCapture

TOL = 1e-5


def _reference_velocity(head: ActionDiT, x, bucket, visual, state_token):
    """The action DiT written out with diffusers' own Attention.forward (keys/values recomputed every call)."""
    h = x.shape[1]
    a = head.action_encoder(x, bucket) + head.position_embedding.weight[:h][None]
    tokens = torch.cat([state_token, a], dim=1)
    ctx = visual + head.context_position if head.context_position is not None else visual
    temb = head.model.timestep_encoder(bucket)
    for block in head.model.transformer_blocks:
        n = block.norm1(tokens, temb=temb)
        n = block.attn1(n, encoder_hidden_states=ctx if block.is_cross else None)
        tokens = tokens + n
        tokens = tokens + block.ff(block.norm3(tokens))
    shift, scale = head.model.proj_out_1(F.silu(temb)).chunk(2, dim=1)
    out = head.model.proj_out_2(head.model.norm_out(tokens) * (1 + scale[:, None]) + shift[:, None])
    return head.action_decoder(out)[:, -h:]


@pytest.mark.parametrize("context_tokens", [0, 12])
def test_action_keys_values_once_per_chunk_equal_per_step_attention(context_tokens):
    cfg = ActionDiTConfig(state_dim=16, action_dim=8, horizon=4, num_heads=2, head_dim=16, hidden_size=64,
                          num_layers=4, output_dim=48, dropout=0.0, context_tokens=context_tokens)
    torch.manual_seed(0)
    head = ActionDiT(cfg, 24).eval()
    g = torch.Generator().manual_seed(1)
    visual, state = torch.randn(2, 12, 24, generator=g), torch.randn(2, 16, generator=g)
    noise = torch.randn(2, 4, 8, generator=g)
    with torch.no_grad():
        chunk = head.sample(visual, state, noise=noise)
        x, token = noise.clone(), head.encode_state(state)
        for t in euler_time_grid(cfg.num_inference_steps):
            bucket = torch.full((2,), int(t * cfg.num_timestep_buckets), dtype=torch.long)
            x = x - _reference_velocity(head, x, bucket, visual, token) / cfg.num_inference_steps
    assert (chunk - x).abs().max().item() <= TOL


def _shim(monkeypatch):
    """diffusers' forward resizes the padding mask with torchvision (not installable here): the same op."""
    import diffusers.models.transformers.transformer_cosmos as cosmos_module

    resize = lambda x, size, interpolation: F.interpolate(x, size=size, mode="nearest")  # noqa: E731
    monkeypatch.setattr(cosmos_module, "transforms", types.SimpleNamespace(
        functional=types.SimpleNamespace(resize=resize), InterpolationMode=types.SimpleNamespace(NEAREST="nearest")),
        raising=False)


def test_cached_text_conditioning_equals_diffusers_forward(monkeypatch):
    """The trunk with per-instruction text keys/values equals diffusers' untouched model (its own processors)."""
    _shim(monkeypatch)
    torch.manual_seed(0)
    model = DiT4DiT(load_preset("tiny")).eval()
    video = model.video
    pristine = CosmosTransformer3DModel(**video.cfg.transformer).eval()
    pristine.load_state_dict(video.transformer.state_dict())
    assert type(pristine.transformer_blocks[0].attn2.processor).__name__ == "CosmosAttnProcessor2_0"
    g = torch.Generator().manual_seed(2)
    frames, prompt = torch.rand(2, 1, 3, 32, 32, generator=g), torch.randn(2, 7, 64, generator=g)
    noise = torch.randn(video.future_noise_shape(2), generator=g)
    with torch.no_grad():
        ours = video.tokens_from_latents(video.encode_frames(frames), video.text_conditioning(prompt), noise=noise)
        latents = torch.cat([video.encode_frames(frames), noise], dim=2)
        indicator, cond_mask, padding = video._masks(2, latents.device)
        timestep = video._timestep(indicator, torch.full((2,), video.cfg.tau_f))
        block = pristine.transformer_blocks[video.cfg.extract_layer]
        with BlockOutputCapture(block, threading.Lock()) as capture:
            pristine(hidden_states=latents, timestep=timestep, encoder_hidden_states=prompt, condition_mask=cond_mask,
                     padding_mask=padding, return_dict=False)
    assert ours.shape == capture.output.shape
    assert (ours - capture.output).abs().max().item() <= TOL


def test_cached_text_covers_only_the_blocks_it_was_made_for():
    torch.manual_seed(0)
    video = DiT4DiT(load_preset("tiny")).eval().video
    kv = video.text_conditioning(torch.randn(1, 5, 64))
    assert len(kv) == video.cfg.extract_layer + 1
    with pytest.raises(ValueError, match="cover blocks 0..1, the trunk runs to block 2"):
        video.features(torch.rand(1, 1, 3, 32, 32), text_kv=kv, last_block=2)
    with pytest.raises(ValueError, match="exactly one of prompt_embeds and text_kv"):
        video.features(torch.rand(1, 1, 3, 32, 32))


def test_explicit_noise_reproduces_the_generator_path_and_stages_are_reported():
    torch.manual_seed(0)
    model = DiT4DiT(load_preset("tiny")).eval()
    g = torch.Generator().manual_seed(4)
    obs = {"frames": torch.rand(1, 1, 3, 32, 32, generator=g), "state": torch.randn(1, 64, generator=g),
           "prompt_embeds": torch.randn(1, 6, 64, generator=g)}
    drawn = model.predict(obs, generator=torch.Generator().manual_seed(7))
    g7 = torch.Generator().manual_seed(7)  # the model draws the video noise first, then the action noise
    video_noise = torch.randn(model.video.future_noise_shape(1), generator=g7)
    action_noise = torch.randn(1, 16, 32, generator=g7)
    stages: list[str] = []
    text_kv = model.video.text_conditioning(obs["prompt_embeds"])
    given = model.predict({"frames": obs["frames"], "state": obs["state"], "text_kv": text_kv},
                          video_noise=video_noise, action_noise=action_noise, on_stage=stages.append)
    assert torch.equal(drawn, given)
    assert stages == ["vae_encode", "video_trunk", "action_context"] + [f"action_step_{i}" for i in range(4)]
    other = model.predict(obs, video_noise=video_noise, action_noise=torch.zeros(1, 16, 32))
    assert not torch.allclose(other, given)
    with pytest.raises(ValueError, match=r"video noise must have shape \(1, 4, 1, 4, 4\)"):
        model.predict(obs, video_noise=torch.zeros(1, 4, 2, 4, 4))
    with pytest.raises(ValueError, match="noise has shape"):
        model.predict(obs, action_noise=torch.zeros(1, 15, 32))
    with pytest.raises(KeyError, match="exactly one of 'prompt_embeds' and 'text_kv'"):
        model.predict({**obs, "text_kv": text_kv})


def test_training_still_matches_after_a_deepcopy():
    """Exports cast a deep copy of the model: the copy (with its fresh capture lock) computes the same tokens."""
    torch.manual_seed(0)
    model = DiT4DiT(load_preset("tiny")).eval()
    twin = copy.deepcopy(model)
    obs = {"frames": torch.rand(1, 1, 3, 32, 32), "state": torch.zeros(1, 64), "prompt_embeds": torch.randn(1, 3, 64)}
    assert torch.equal(model.predict(obs, generator=torch.Generator().manual_seed(1)),
                       twin.predict(obs, generator=torch.Generator().manual_seed(1)))
    assert twin.video._capture_lock is not model.video._capture_lock
