"""The action branch: a GR00T-N1.5-style flow-matching action head (docs/method.md, "Action branch").

Sequence = [state token, H noisy-action tokens]; a cross-attention DiT whose blocks are AdaLayerNorm-modulated by the
flow time, with even blocks cross-attending to the video features and odd blocks self-attending; the last H output
tokens are decoded into the velocity n - a. Time is discretised to int(t * num_timestep_buckets) before embedding, as
in the original, so that imported official weights see the same inputs.

Submodule names follow the official release (`model.transformer_blocks.{i}.attn1...`, `state_encoder.layer1`, ...)
so that model/official_import.py only renames prefixes. Building blocks come from diffusers (Attention, FeedForward,
Timesteps, TimestepEmbedding, AdaLayerNorm).

The visual tokens do not change during the Euler integration, so their cross-attention keys/values are projected
once per chunk (`context_kv`) and every step reuses them: the attention is computed from those projections by
`attend`, the one attention path of this head (training included), with exactly the operations of diffusers'
AttnProcessor2_0.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, get_timestep_embedding
from diffusers.models.normalization import AdaLayerNorm
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from dit4dit_ros.model.flow_matching import (euler_integrate, flow_interpolate, masked_mse, sample_beta_time,
                                             time_bucket_of)
from dit4dit_ros.utils.config_dict import dataclass_from_dict

KeyValue = tuple[Tensor, Tensor]  # (B, heads, N, head_dim) keys and values of one attention layer
#: Per DiT block: the visual tokens' keys/values for a cross-attention block, None for a self-attention block.
ContextKV = tuple[Optional[KeyValue], ...]
StageCallback = Callable[[str], None]


@dataclass
class ActionDiTConfig:
    """Sizes and flow settings of the action head. Defaults: the official G1 `DiT-B` head."""

    state_dim: int = 64  # padded state width (max_state_dim)
    action_dim: int = 32  # padded action width (max_action_dim)
    horizon: int = 16  # actions per chunk
    num_heads: int = 12
    head_dim: int = 64  # token width = num_heads * head_dim (768)
    hidden_size: int = 2560  # MLP width of the state encoder / action decoder
    num_layers: int = 16
    output_dim: int = 2560  # DiT output width fed to the action decoder
    dropout: float = 0.2
    interleave_self_attention: bool = True
    num_inference_steps: int = 4
    tau_alpha: float = 1.5
    tau_beta: float = 1.0
    tau_scale: float = 0.999
    num_timestep_buckets: int = 1000
    max_seq_len: int = 1024
    repeated_diffusion_steps: int = 1  # training: each sample is noised this many times per step
    # > 0: a learned embedding per visual token (this many tokens), added to the video features before
    # cross-attention. 0 (official): the features must carry their own position, which a pretrained Cosmos
    # trunk's do; the small demo trunk's (RoPE only, 4 blocks, random VAE) do not, and attention pools a set:
    # without it the head could see *that* there is a cube but not *where*.
    context_tokens: int = 0

    def __post_init__(self) -> None:
        positive = ("state_dim", "action_dim", "horizon", "num_heads", "head_dim", "hidden_size", "num_layers",
                    "output_dim", "num_inference_steps", "num_timestep_buckets", "max_seq_len",
                    "repeated_diffusion_steps")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ActionDiTConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ActionDiTConfig.dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.context_tokens, int) or isinstance(self.context_tokens, bool) or self.context_tokens < 0:
            raise ValueError(f"ActionDiTConfig.context_tokens must be an int >= 0, got {self.context_tokens!r}")
        if self.horizon > self.max_seq_len:
            raise ValueError(f"ActionDiTConfig.horizon {self.horizon} exceeds max_seq_len {self.max_seq_len}")
        if self.tau_alpha <= 0 or self.tau_beta <= 0 or not 0 < self.tau_scale <= 1:
            raise ValueError("ActionDiTConfig: tau_alpha, tau_beta must be > 0 and tau_scale in (0, 1]")

    @property
    def inner_dim(self) -> int:
        return self.num_heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ActionDiTConfig":
        return dataclass_from_dict(cls, data, "action config")


class MLP(nn.Module):
    """Two linear layers with a ReLU (state encoder, action decoder)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(input_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer2(F.relu(self.layer1(x)))


class ActionEncoder(nn.Module):
    """Noisy action + sinusoidal embedding of the time bucket -> one token per action."""

    def __init__(self, action_dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.layer1 = nn.Linear(action_dim, width)
        self.layer2 = nn.Linear(2 * width, width)
        self.layer3 = nn.Linear(width, width)

    def forward(self, actions: Tensor, time_bucket: Tensor) -> Tensor:
        b, h, _ = actions.shape
        a_emb = self.layer1(actions)
        # sin-then-cos, frequencies 10000^(-i/half): the original's SinusoidalPositionalEncoding
        tau = get_timestep_embedding(time_bucket.float(), self.width, flip_sin_to_cos=False, downscale_freq_shift=0)
        tau = tau.to(a_emb.dtype)[:, None, :].expand(b, h, self.width)
        x = F.silu(self.layer2(torch.cat([a_emb, tau], dim=-1)))
        return self.layer3(x)


class TimestepEncoder(nn.Module):
    """Sinusoidal(256) -> MLP -> token width: the time conditioning of every AdaLayerNorm."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.time_proj = Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=1)
        self.timestep_embedder = TimestepEmbedding(in_channels=256, time_embed_dim=width)

    def forward(self, time_bucket: Tensor) -> Tensor:
        proj = self.time_proj(time_bucket)
        return self.timestep_embedder(proj.to(self.timestep_embedder.linear_1.weight.dtype))


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, N, heads * d) -> (B, heads, N, d)."""
    return x.view(x.shape[0], -1, heads, x.shape[-1] // heads).transpose(1, 2)


def project_kv(attn: Attention, context: Tensor) -> KeyValue:
    """Keys and values of `context` (B, N, C) for one attention layer, split into heads."""
    return _split_heads(attn.to_k(context), attn.heads), _split_heads(attn.to_v(context), attn.heads)


def attend(attn: Attention, hidden: Tensor, kv: KeyValue) -> Tensor:
    """Attention of `hidden` (B, S, D) over precomputed keys/values: diffusers' AttnProcessor2_0 step for step
    (query projection, SDPA without mask or dropout, merge heads, output projection and its dropout)."""
    query = _split_heads(attn.to_q(hidden), attn.heads)
    out = F.scaled_dot_product_attention(query, kv[0], kv[1], attn_mask=None, dropout_p=0.0, is_causal=False)
    out = out.transpose(1, 2).reshape(hidden.shape[0], -1, attn.heads * query.shape[-1]).to(query.dtype)
    return attn.to_out[1](attn.to_out[0](out))


class DiTBlock(nn.Module):
    """AdaLN -> (cross- or self-) attention -> residual -> LayerNorm -> GELU(tanh) MLP -> residual."""

    def __init__(self, cfg: ActionDiTConfig, cross_attention_dim: int | None) -> None:
        super().__init__()
        dim = cfg.inner_dim
        # diffusers' AdaLayerNorm with chunk_dim=1 takes (B, D) embeddings and splits the projection as
        # (shift, scale); the original splits (scale, shift): official_import.py swaps the halves.
        self.norm1 = AdaLayerNorm(dim, norm_elementwise_affine=False, norm_eps=1e-5, chunk_dim=1)
        self.attn1 = Attention(
            query_dim=dim, cross_attention_dim=cross_attention_dim, heads=cfg.num_heads, dim_head=cfg.head_dim,
            dropout=cfg.dropout, bias=True, out_bias=True,
        )
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=False)
        self.ff = FeedForward(dim, dropout=cfg.dropout, activation_fn="gelu-approximate", final_dropout=True)
        self.final_dropout = nn.Dropout(cfg.dropout)
        self.is_cross = cross_attention_dim is not None

    def forward(self, x: Tensor, temb: Tensor, context_kv: Optional[KeyValue]) -> Tensor:
        """`context_kv`: the visual keys/values (`project_kv`) for a cross-attention block, None otherwise."""
        if self.is_cross == (context_kv is None):
            raise ValueError(f"DiTBlock: a {'cross' if self.is_cross else 'self'}-attention block "
                             f"{'needs' if self.is_cross else 'takes no'} visual keys/values")
        h = self.norm1(x, temb=temb)
        h = attend(self.attn1, h, context_kv if context_kv is not None else project_kv(self.attn1, h))
        x = x + self.final_dropout(h)
        return x + self.ff(self.norm3(x))


class CrossAttentionDiT(nn.Module):
    """The DiT trunk of the action head (official name `model`)."""

    def __init__(self, cfg: ActionDiTConfig, cross_attention_dim: int) -> None:
        super().__init__()
        dim = cfg.inner_dim
        self.timestep_encoder = TimestepEncoder(dim)
        self.transformer_blocks = nn.ModuleList(
            DiTBlock(cfg, cross_attention_dim if (not cfg.interleave_self_attention or i % 2 == 0) else None)
            for i in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.proj_out_1 = nn.Linear(dim, 2 * dim)
        self.proj_out_2 = nn.Linear(dim, cfg.output_dim)
        self.gradient_checkpointing = False

    def forward(self, tokens: Tensor, context_kv: ContextKV, time_bucket: Tensor) -> Tensor:
        temb = self.timestep_encoder(time_bucket)
        for block, kv in zip(self.transformer_blocks, context_kv, strict=True):
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, temb, kv, use_reentrant=False)
            else:
                tokens = block(tokens, temb, kv)
        shift, scale = self.proj_out_1(F.silu(temb)).chunk(2, dim=1)
        tokens = self.norm_out(tokens) * (1 + scale[:, None]) + shift[:, None]
        return self.proj_out_2(tokens)


class ActionDiT(nn.Module):
    """Flow-matching action head conditioned on video features (B, N, cross_attention_dim) and the state."""

    def __init__(self, cfg: ActionDiTConfig, cross_attention_dim: int) -> None:
        super().__init__()
        if not isinstance(cross_attention_dim, int) or cross_attention_dim <= 0:
            raise ValueError(f"cross_attention_dim must be a positive int, got {cross_attention_dim!r}")
        self.cfg = cfg
        self.cross_attention_dim = cross_attention_dim
        width = cfg.inner_dim
        self.model = CrossAttentionDiT(cfg, cross_attention_dim)
        self.state_encoder = MLP(cfg.state_dim, cfg.hidden_size, width)
        self.action_encoder = ActionEncoder(cfg.action_dim, width)
        self.action_decoder = MLP(cfg.output_dim, cfg.hidden_size, cfg.action_dim)
        self.position_embedding = nn.Embedding(cfg.max_seq_len, width)
        nn.init.normal_(self.position_embedding.weight, mean=0.0, std=0.02)
        self.context_position: nn.Parameter | None = None
        if cfg.context_tokens:
            # unit scale (not 0.02): the video features are O(1), and a tiny embedding would take thousands of
            # steps to let attention tell the tokens apart
            self.context_position = nn.Parameter(torch.randn(cfg.context_tokens, cross_attention_dim))

    # -- pieces ------------------------------------------------------------------------------------------------
    def set_gradient_checkpointing(self, enabled: bool) -> None:
        self.model.gradient_checkpointing = bool(enabled)

    def time_bucket(self, t: Tensor) -> Tensor:
        """int(t * buckets), the discretised time the original embeds."""
        return (t * self.cfg.num_timestep_buckets).long()

    def encode_state(self, state: Tensor) -> Tensor:
        """(B, state_dim) -> (B, 1, width): computed once per chunk, reused by every Euler step."""
        self._check("state", state, (state.shape[0], self.cfg.state_dim))
        return self.state_encoder(state)[:, None, :]

    def context_kv(self, visual_tokens: Tensor) -> ContextKV:
        """The visual tokens' keys/values for every cross-attention block: computed once per chunk, reused by every
        Euler step (they do not depend on the noisy actions or the time)."""
        self._check_visual(visual_tokens)
        if self.context_position is not None:
            visual_tokens = visual_tokens + self.context_position.to(visual_tokens.dtype)
        return tuple(project_kv(block.attn1, visual_tokens) if block.is_cross else None
                     for block in self.model.transformer_blocks)

    def velocity(self, noisy_actions: Tensor, time_bucket: Tensor, context: Tensor | ContextKV,
                 state_token: Tensor) -> Tensor:
        """Predicted velocity (B, H, action_dim) for noisy actions at the given time buckets (B,).

        `context`: the visual tokens (B, N, C), or their keys/values from `context_kv` (what the sampler passes).
        """
        kv = self.context_kv(context) if isinstance(context, Tensor) else context
        h = noisy_actions.shape[1]
        a = self.action_encoder(noisy_actions, time_bucket)
        a = a + self.position_embedding.weight[:h][None].to(a.dtype)
        tokens = torch.cat([state_token.to(a.dtype), a], dim=1)
        out = self.model(tokens, kv, time_bucket)
        return self.action_decoder(out)[:, -h:]

    def _check(self, name: str, x: Tensor, shape: tuple[int, ...]) -> None:
        if tuple(x.shape) != tuple(shape):
            raise ValueError(f"ActionDiT: {name} has shape {tuple(x.shape)}, expected {tuple(shape)}")

    def _check_visual(self, visual_tokens: Tensor) -> int:
        if visual_tokens.ndim != 3 or visual_tokens.shape[-1] != self.cross_attention_dim:
            raise ValueError(
                f"ActionDiT: visual_tokens has shape {tuple(visual_tokens.shape)}, "
                f"expected (B, N, {self.cross_attention_dim})"
            )
        if self.cfg.context_tokens and visual_tokens.shape[1] != self.cfg.context_tokens:
            raise ValueError(
                f"ActionDiT: visual_tokens has {visual_tokens.shape[1]} tokens, but the head learned a position "
                f"embedding for context_tokens={self.cfg.context_tokens}; the video backbone's token count changed"
            )
        return visual_tokens.shape[0]

    # -- training ----------------------------------------------------------------------------------------------
    def loss(self, visual_tokens: Tensor, state: Tensor, actions: Tensor, action_mask: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        """Masked flow-matching MSE; with repeated_diffusion_steps R each sample is noised R times."""
        cfg = self.cfg
        b = self._check_visual(visual_tokens)
        self._check("state", state, (b, cfg.state_dim))
        self._check("actions", actions, (b, cfg.horizon, cfg.action_dim))
        self._check("action_mask", action_mask, (b, cfg.horizon, cfg.action_dim))
        kv = self.context_kv(visual_tokens)
        r = cfg.repeated_diffusion_steps
        if r > 1:  # the keys/values of a sample are the same for all its noise draws: project once, repeat
            kv = tuple(None if p is None else (p[0].repeat_interleave(r, dim=0), p[1].repeat_interleave(r, dim=0))
                       for p in kv)
            state = state.repeat_interleave(r, dim=0)
            actions = actions.repeat_interleave(r, dim=0)
            action_mask = action_mask.repeat_interleave(r, dim=0)
        n = actions.shape[0]
        device = actions.device
        noise = torch.randn(actions.shape, generator=generator, device=device, dtype=actions.dtype)
        t = sample_beta_time(n, cfg.tau_alpha, cfg.tau_beta, cfg.tau_scale, generator=generator, device=device)
        x_t, target = flow_interpolate(actions, noise, t)
        pred = self.velocity(x_t, self.time_bucket(t), kv, self.encode_state(state))
        return masked_mse(pred.float(), target.float(), action_mask)

    # -- inference ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, visual_tokens: Tensor, state: Tensor, num_steps: int | None = None,
               generator: torch.Generator | None = None, noise: Tensor | None = None,
               on_stage: StageCallback | None = None) -> Tensor:
        """Normalized action chunk (B, H, action_dim): Euler from noise at t = 1 to t = 0 in `num_steps` steps.

        `noise`: the initial noise (B, H, action_dim); drawn from `generator` when None. `on_stage(name)` is called
        after "action_context" (state token + visual keys/values) and after each "action_step_<i>" (the engines
        time the stages through it).
        """
        cfg = self.cfg
        b = self._check_visual(visual_tokens)
        self._check("state", state, (b, cfg.state_dim))
        steps = cfg.num_inference_steps if num_steps is None else num_steps
        shape = (b, cfg.horizon, cfg.action_dim)
        if noise is None:
            x = torch.randn(shape, generator=generator, device=visual_tokens.device, dtype=visual_tokens.dtype)
        else:
            self._check("noise", noise, shape)
            x = noise.to(visual_tokens.device, visual_tokens.dtype)
        stage = on_stage or (lambda name: None)
        state_token = self.encode_state(state.to(visual_tokens.dtype))
        kv = self.context_kv(visual_tokens)
        stage("action_context")

        def velocity_at(x_t: Tensor, t: float) -> Tensor:
            bucket = torch.full((b,), time_bucket_of(t, cfg.num_timestep_buckets), device=x_t.device,
                                dtype=torch.long)
            return self.velocity(x_t, bucket, kv, state_token)

        return euler_integrate(velocity_at, x, steps, on_step=lambda i: stage(f"action_step_{i}"))
