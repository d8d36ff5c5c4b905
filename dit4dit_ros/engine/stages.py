"""The policy step cut into the graphs an exported engine runs, each a thin wrapper around the model's own methods.

Why stages and not one graph: the trunk's text conditioning depends only on the instruction (run once per
instruction, not per step), the visual keys/values once per chunk, the velocity network once per Euler step; and per-stage graphs give
the exported engines the same stage timings as the torch engine. The wrappers call the very methods the torch
path runs (`VideoBackbone.encode_frames`, `tokens_from_latents`, `text_conditioning`, `ActionDiT.encode_state`,
`context_kv`, `velocity`), so an export cannot drift from the model.

Every stage takes and returns float32 (the time bucket int64) whatever the weights' precision: reduced-precision
exports cast inside the graph, so the engines' buffers and the parity checks are the same for every precision.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

STAGE_NAMES = ("text_conditioning", "vae_encode", "video_trunk", "action_context", "action_velocity")


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape and dtype ("float32" or "int64") of one stage input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        return cls(str(d["name"]), tuple(int(s) for s in d["shape"]), str(d.get("dtype", "float32")))


def _dtype_of(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


class TextConditioningStage(nn.Module):
    """prompt_embeds (1, L, C) -> text key/value of every trunk block up to the hooked one: once per instruction."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.video = model.video

    def forward(self, prompt_embeds: Tensor) -> tuple[Tensor, ...]:
        kv = self.video.text_conditioning(prompt_embeds.to(_dtype_of(self.video.transformer)))
        return tuple(t.float() for pair in kv for t in pair)


class VaeEncodeStage(nn.Module):
    """frames (1, Tc, 3, H, W) in [0, 1] -> normalised conditioning latents (first-frame encode)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.video = model.video

    def forward(self, frames: Tensor) -> Tensor:
        return self.video.encode_frames(frames.to(self.video.latents_mean.dtype)).float()


class VideoTrunkStage(nn.Module):
    """conditioning latents + future-frame noise + text keys/values -> visual tokens of the hooked block."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.video = model.video

    def forward(self, cond_latents: Tensor, video_noise: Tensor, *text_kv_flat: Tensor) -> Tensor:
        from dit4dit_ros.model.cosmos_text import TextKV

        dtype = _dtype_of(self.video.transformer)
        kv = tuple(TextKV(k.to(dtype), v.to(dtype)) for k, v in zip(text_kv_flat[0::2], text_kv_flat[1::2]))
        tokens = self.video.tokens_from_latents(cond_latents.to(dtype), kv, noise=video_noise.to(dtype))
        return tokens.float()


class ActionContextStage(nn.Module):
    """visual tokens + encoded state -> state token and the keys/values of every cross-attention block."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.action = model.action

    def forward(self, visual_tokens: Tensor, state: Tensor) -> tuple[Tensor, ...]:
        dtype = _dtype_of(self.action)
        state_token = self.action.encode_state(state.to(dtype))
        kv = self.action.context_kv(visual_tokens.to(dtype))
        return (state_token.float(), *(t.float() for pair in kv if pair is not None for t in pair))


class ActionVelocityStage(nn.Module):
    """noisy actions, time bucket, state token, keys/values -> velocity: one Euler step's network."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.action = model.action
        self.cross = [block.is_cross for block in model.action.model.transformer_blocks]

    def forward(self, noisy_actions: Tensor, time_bucket: Tensor, state_token: Tensor, *kv_flat: Tensor) -> Tensor:
        dtype = _dtype_of(self.action)
        flat = iter(kv_flat)
        kv = tuple((next(flat).to(dtype), next(flat).to(dtype)) if cross else None for cross in self.cross)
        v = self.action.velocity(noisy_actions.to(dtype), time_bucket, kv, state_token.to(dtype))
        return v.float()


def text_kv_names(model: nn.Module) -> list[str]:
    """Names of the text keys/values of the trunk blocks 0..extract_layer: text_key_<block>, text_value_<block>."""
    return [f"text_{kind}_{i}" for i in range(model.cfg.video.extract_layer + 1) for kind in ("key", "value")]


def kv_names(model: nn.Module) -> list[str]:
    """Input/output names of the cross-attention keys/values, in block order: key_<block>, value_<block>."""
    names = []
    for i, block in enumerate(model.action.model.transformer_blocks):
        if block.is_cross:
            names += [f"key_{i}", f"value_{i}"]
    return names


def stage_specs(model: nn.Module, prompt_length: int) -> dict[str, tuple[list[TensorSpec], list[TensorSpec]]]:
    """(inputs, outputs) of every stage for batch 1 and a prompt of `prompt_length` tokens (static shapes)."""
    vcfg, acfg = model.cfg.video, model.cfg.action
    h, w = vcfg.image_size
    lh, lw = vcfg.latent_size
    z = vcfg.latent_channels
    tc, tf = vcfg.num_cond_latent_frames, vcfg.num_latent_frames - vcfg.num_cond_latent_frames
    heads = int(vcfg.transformer["num_attention_heads"])
    text_kv = [TensorSpec(n, (1, heads, prompt_length, int(vcfg.transformer["attention_head_dim"])))
               for n in text_kv_names(model)]
    tokens, hidden, inner = vcfg.num_tokens, vcfg.hidden_size, acfg.inner_dim
    kv = [TensorSpec(n, (1, acfg.num_heads, tokens, acfg.head_dim)) for n in kv_names(model)]
    state_token = TensorSpec("state_token", (1, 1, inner))
    actions = (1, acfg.horizon, acfg.action_dim)
    return {
        "text_conditioning": ([TensorSpec("prompt_embeds", (1, prompt_length, vcfg.prompt_embed_dim))], text_kv),
        "vae_encode": ([TensorSpec("frames", (1, vcfg.num_cond_frames, 3, h, w))],
                       [TensorSpec("cond_latents", (1, z, tc, lh, lw))]),
        "video_trunk": ([TensorSpec("cond_latents", (1, z, tc, lh, lw)), TensorSpec("video_noise", (1, z, tf, lh, lw)),
                         *text_kv],
                        [TensorSpec("visual_tokens", (1, tokens, hidden))]),
        "action_context": ([TensorSpec("visual_tokens", (1, tokens, hidden)), TensorSpec("state", (1, acfg.state_dim))],
                           [state_token, *kv]),
        "action_velocity": ([TensorSpec("noisy_actions", actions), TensorSpec("time_bucket", (1,), "int64"),
                             state_token, *kv],
                            [TensorSpec("velocity", actions)]),
    }


def stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The wrapper module of every stage (eval mode), in STAGE_NAMES order."""
    modules = {
        "text_conditioning": TextConditioningStage(model),
        "vae_encode": VaeEncodeStage(model),
        "video_trunk": VideoTrunkStage(model),
        "action_context": ActionContextStage(model),
        "action_velocity": ActionVelocityStage(model),
    }
    return {name: modules[name].eval() for name in STAGE_NAMES}
