"""The video branch of DiT4DiT: diffusers' Cosmos-Predict2.5 transformer + Wan VAE, read at one hooked block.

Conventions follow diffusers' `Cosmos2_5_PredictBasePipeline` (docs/method.md): the conditioning latent frames are
pinned to the encoded observation with the `condition_mask` channel and the tiny `conditional_frame_timestep`;
the other latent frames are noise at the feature time tau_f = sigma_max / (1 + sigma_max) (the pipeline's first
sigma); the padding mask is zeros. The visual tokens for the action branch are the output of
`transformer_blocks[extract_layer]`, captured by a forward hook, detached.

What makes inference cheap (and is checked by tests): only the conditioning pixel frames go through the causal VAE
(latent frame k depends on pixel frames <= 4k only), and the trunk stops after the hooked block.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from dit4dit_ros.model.hook import BlockOutputCapture

log = logging.getLogger(__name__)

LATENT_NORMS = ("pipeline", "official")
TIME_SAMPLINGS = ("logit_normal", "uniform")
_REQUIRED_TRANSFORMER_KEYS = ("in_channels", "num_attention_heads", "attention_head_dim", "num_layers")


@dataclass
class VideoBackboneConfig:
    """Video branch configuration.

    transformer / vae: keyword arguments of `CosmosTransformer3DModel` / `AutoencoderKLWan` (diffusers 0.42.1).
    latent_norm: "pipeline" z = (x - mean) / std (diffusers; for models trained from scratch) or "official"
      z = (x - mean) * std (what the official DiT4DiT code does; use it with imported official weights).
    num_frames: pixel frames of a training clip (1 + 4k); num_cond_frames: leading observation frames (1 + 4k).
    frame_stride: raw recorded frames between two clip frames (`action_video_freq_ratio`).
    weights_dir: a local diffusers-format directory with transformer/ and vae/ subfolders (never downloaded).
    """

    transformer: dict[str, Any]
    vae: dict[str, Any] = field(default_factory=dict)
    extract_layer: int = 17
    image_size: tuple[int, int] = (224, 224)
    num_frames: int = 9
    num_cond_frames: int = 1
    frame_stride: int = 2
    latent_norm: str = "pipeline"
    sigma_max: float = 200.0
    conditional_frame_timestep: float = 1e-4
    time_sampling: str = "logit_normal"
    time_mean: float = 0.0
    time_std: float = 1.0
    high_sigma_ratio: float = 0.05
    high_sigma_min: float = 0.98
    prompt_max_length: int = 512
    weights_dir: Optional[str] = None
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        self.transformer = dict(self.transformer)
        self.vae = dict(self.vae)
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        missing = [k for k in _REQUIRED_TRANSFORMER_KEYS if k not in self.transformer]
        if missing:
            raise ValueError(f"video.transformer is missing {missing} (CosmosTransformer3DModel kwargs)")
        if self.transformer["in_channels"] != self.latent_channels + 1:
            raise ValueError(
                f"video.transformer.in_channels must be vae z_dim + 1 (condition mask) = {self.latent_channels + 1},"
                f" got {self.transformer['in_channels']}"
            )
        if not 0 <= self.extract_layer < self.num_layers:
            raise ValueError(f"video.extract_layer must be in [0, {self.num_layers - 1}], got {self.extract_layer}")
        if len(self.image_size) != 2:
            raise ValueError(f"video.image_size must be (height, width), got {self.image_size}")
        multiple = self.spatial_factor * self.patch_size[1]
        if any(s <= 0 or s % multiple for s in self.image_size):
            raise ValueError(f"video.image_size {self.image_size} must be positive multiples of {multiple}")
        tf = self.temporal_factor
        for name in ("num_frames", "num_cond_frames"):
            value = getattr(self, name)
            if value < 1 or (value - 1) % tf:
                raise ValueError(f"video.{name} must be 1 + {tf}k (causal VAE chunks), got {value}")
        if self.num_cond_frames >= self.num_frames:
            raise ValueError(
                f"video.num_cond_frames ({self.num_cond_frames}) must be < num_frames ({self.num_frames}):"
                " the video loss needs future frames"
            )
        if self.frame_stride < 1:
            raise ValueError(f"video.frame_stride must be >= 1, got {self.frame_stride}")
        if self.latent_norm not in LATENT_NORMS:
            raise ValueError(f"video.latent_norm must be one of {LATENT_NORMS}, got {self.latent_norm!r}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"video.time_sampling must be one of {TIME_SAMPLINGS}, got {self.time_sampling!r}")
        if self.sigma_max <= 0:
            raise ValueError(f"video.sigma_max must be > 0, got {self.sigma_max}")
        if not 0.0 <= self.conditional_frame_timestep < 1.0:
            raise ValueError(f"video.conditional_frame_timestep must be in [0, 1), got {self.conditional_frame_timestep}")
        if self.prompt_max_length < 1:
            raise ValueError(f"video.prompt_max_length must be >= 1, got {self.prompt_max_length}")

    # Derived quantities (single source of truth for the data pipeline, the engine and the benches).
    @property
    def num_layers(self) -> int:
        return int(self.transformer["num_layers"])

    @property
    def hidden_size(self) -> int:
        return int(self.transformer["num_attention_heads"]) * int(self.transformer["attention_head_dim"])

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.transformer.get("patch_size", (1, 2, 2)))  # type: ignore[return-value]

    @property
    def latent_channels(self) -> int:
        return int(self.vae.get("z_dim", 16))

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(bool(d) for d in self.vae.get("temperal_downsample", (False, True, True)))

    @property
    def spatial_factor(self) -> int:
        return 2 ** len(self.vae.get("temperal_downsample", (False, True, True)))

    @property
    def tau_f(self) -> float:
        """Feature time: the first flow sigma of the pipeline's UniPC scheduler, sigma_max / (1 + sigma_max)."""
        return self.sigma_max / (1.0 + self.sigma_max)

    @property
    def num_latent_frames(self) -> int:
        return (self.num_frames - 1) // self.temporal_factor + 1

    @property
    def num_cond_latent_frames(self) -> int:
        return (self.num_cond_frames - 1) // self.temporal_factor + 1

    @property
    def latent_size(self) -> tuple[int, int]:
        return (self.image_size[0] // self.spatial_factor, self.image_size[1] // self.spatial_factor)

    @property
    def tokens_per_latent_frame(self) -> int:
        h, w = self.latent_size
        return (h // self.patch_size[1]) * (w // self.patch_size[2])

    @property
    def num_tokens(self) -> int:
        """Visual tokens handed to the action branch: all latent frames (future ones are noise at tau_f)."""
        return self.num_latent_frames * self.tokens_per_latent_frame

    @property
    def prompt_embed_dim(self) -> int:
        """Feature width of the cached prompt embeddings the transformer expects."""
        if self.transformer.get("use_crossattn_projection", False):
            return int(self.transformer.get("crossattn_proj_in_channels", 1024))
        return int(self.transformer.get("text_embed_dim", 1024))

    @property
    def frame_offsets(self) -> list[int]:
        """Raw-frame offsets of a training clip relative to the observation (the `video_delta_indices` subsampled)."""
        return [i * self.frame_stride for i in range(self.num_frames)]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return _lists(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VideoBackboneConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown video config keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**d)


def _lists(value: Any) -> Any:
    """Tuples -> lists recursively so that configs compare equal after a JSON/YAML round trip."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _build_modules(cfg: VideoBackboneConfig, load_weights: bool) -> tuple[nn.Module, nn.Module]:
    from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

    if cfg.weights_dir and load_weights:
        root = os.path.expanduser(cfg.weights_dir)
        for sub in ("transformer", "vae"):
            if not os.path.isfile(os.path.join(root, sub, "config.json")):
                raise FileNotFoundError(
                    f"video.weights_dir {root!r} has no {sub}/config.json: expected a local diffusers-format"
                    " Cosmos-Predict2.5 directory with transformer/ and vae/ subfolders"
                )
        transformer = CosmosTransformer3DModel.from_pretrained(root, subfolder="transformer", local_files_only=True)
        vae = AutoencoderKLWan.from_pretrained(root, subfolder="vae", local_files_only=True)
        for key in _REQUIRED_TRANSFORMER_KEYS:
            if transformer.config[key] != cfg.transformer[key]:
                raise ValueError(
                    f"weights in {root!r} have transformer.{key}={transformer.config[key]}, the preset says"
                    f" {cfg.transformer[key]}"
                )
        log.info("loaded Cosmos transformer and VAE from %s", root)
        return transformer.float(), vae.float()
    return CosmosTransformer3DModel(**cfg.transformer), AutoencoderKLWan(**cfg.vae)


class VideoBackbone(nn.Module):
    """Cosmos-Predict2.5 transformer + frozen Wan VAE; yields detached visual tokens and the video loss."""

    def __init__(self, cfg: VideoBackboneConfig, load_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer, self.vae = _build_modules(cfg, load_weights)
        if cfg.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        # The VAE is a fixed tokenizer: training it against the video loss would collapse the latents.
        self.vae.requires_grad_(False)
        self.vae.eval()
        z = self.vae.config.z_dim
        mean = torch.tensor(self.vae.config.latents_mean, dtype=torch.float32).view(1, z, 1, 1, 1)
        std = torch.tensor(self.vae.config.latents_std, dtype=torch.float32).view(1, z, 1, 1, 1)
        self.register_buffer("latents_mean", mean, persistent=False)
        self.register_buffer("latents_std", std, persistent=False)
        self._capture_lock = threading.Lock()

    @property
    def hidden_size(self) -> int:
        return self.cfg.hidden_size

    def train(self, mode: bool = True) -> "VideoBackbone":
        super().train(mode)
        self.vae.eval()  # always: the VAE has no train-time behaviour we want
        return self

    # ---- pixels -> latents -------------------------------------------------------------------------------
    def _pixels(self, frames: torch.Tensor, name: str, num_frames: int) -> torch.Tensor:
        """(B,T,3,H,W) in [0,1] -> (B,3,T,H,W) in [-1,1] (diffusers' VideoProcessor mapping)."""
        h, w = self.cfg.image_size
        if frames.ndim != 5 or frames.shape[1] != num_frames or frames.shape[2] != 3 or frames.shape[3:] != (h, w):
            raise ValueError(
                f"{name} must have shape (B, {num_frames}, 3, {h}, {w}) with values in [0, 1],"
                f" got {tuple(frames.shape)}"
            )
        if not frames.is_floating_point():
            raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {frames.dtype}")
        return (frames * 2.0 - 1.0).permute(0, 2, 1, 3, 4).to(self.latents_mean.dtype)

    def normalize_latents(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.latent_norm == "pipeline":
            return (x - self.latents_mean) / self.latents_std
        return (x - self.latents_mean) * self.latents_std

    @torch.no_grad()
    def raw_latents(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) in [-1,1] -> posterior-mean latents (B,z,T',h,w) before normalisation. Deterministic.

        The posterior mean (not a sample) so that the same observation always yields the same features.
        """
        vae_dtype = next(self.vae.parameters()).dtype
        return self.vae.encode(pixels.to(vae_dtype)).latent_dist.mean.float()

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) in [-1,1] -> normalized posterior-mean latents (B,z,T',h,w)."""
        return self.normalize_latents(self.raw_latents(pixels))

    @torch.no_grad()
    def calibrate_latent_statistics(self, frames: torch.Tensor) -> None:
        """Per-channel latent mean/std measured on `frames` (B,T,3,H,W) in [0,1], written to the config (so a
        saved config.json carries them) and to the normalisation buffers. For a randomly initialised VAE only:
        pretrained Cosmos/Wan weights ship calibrated statistics in the same config fields."""
        if self.cfg.weights_dir:
            raise ValueError("latent calibration is for a randomly initialised VAE; pretrained weights ship their statistics")
        if frames.shape[0] < 2:
            raise ValueError(f"calibration needs at least 2 clips, got {frames.shape[0]}")
        latents = self.raw_latents(self._pixels(frames, "calibration clips", frames.shape[1]))
        dims = (0, 2, 3, 4)
        self.cfg.vae["latents_mean"] = [round(float(v), 6) for v in latents.mean(dim=dims)]
        self.cfg.vae["latents_std"] = [round(float(v), 6) for v in latents.std(dim=dims).clamp_min(1e-6)]
        self.latents_mean.copy_(torch.tensor(self.cfg.vae["latents_mean"]).view_as(self.latents_mean))
        self.latents_std.copy_(torch.tensor(self.cfg.vae["latents_std"]).view_as(self.latents_std))

    # ---- conditioning ------------------------------------------------------------------------------------
    def _masks(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """indicator (B,1,T,1,1), condition_mask (B,1,T,h,w), padding_mask (1,1,H,W) as in the pipeline."""
        t, tc = self.cfg.num_latent_frames, self.cfg.num_cond_latent_frames
        h, w = self.cfg.latent_size
        indicator = torch.zeros(batch, 1, t, 1, 1, device=device)
        indicator[:, :, :tc] = 1.0
        cond_mask = indicator.expand(-1, -1, -1, h, w)
        padding = torch.zeros(1, 1, *self.cfg.image_size, device=device)
        return indicator, cond_mask, padding

    def _timestep(self, indicator: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.view(-1, 1, 1, 1, 1).to(indicator)
        return indicator * self.cfg.conditional_frame_timestep + (1.0 - indicator) * t

    def _check_prompt(self, prompt_embeds: torch.Tensor, batch: int) -> torch.Tensor:
        c = self.cfg.prompt_embed_dim
        if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != batch or prompt_embeds.shape[2] != c:
            raise ValueError(f"prompt_embeds must have shape ({batch}, L, {c}), got {tuple(prompt_embeds.shape)}")
        return prompt_embeds.to(self.latents_mean.dtype)

    def _noise(self, like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    # ---- trunk -------------------------------------------------------------------------------------------
    def trunk_features(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        condition_mask: torch.Tensor,
        padding_mask: torch.Tensor,
        last_block: Optional[int] = None,
    ) -> torch.Tensor:
        """Hooked tokens of block `extract_layer`; the trunk runs blocks 0..last_block (default: extract_layer).

        `last_block` > extract_layer exists for the benches (cost of running further) and the tests.
        """
        from dit4dit_ros.model.cosmos_trunk import prepare_trunk_inputs, run_blocks

        last = self.cfg.extract_layer if last_block is None else last_block
        if last < self.cfg.extract_layer:
            raise ValueError(f"last_block ({last}) must be >= extract_layer ({self.cfg.extract_layer})")
        block = self.transformer.transformer_blocks[self.cfg.extract_layer]
        with BlockOutputCapture(block, self._capture_lock, detach=True) as capture:
            inputs = prepare_trunk_inputs(
                self.transformer, latents, timestep, prompt_embeds, condition_mask, padding_mask
            )
            run_blocks(self.transformer, inputs, last)
            return capture.output

    def _feature_latents(self, cond_latents: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Conditioning latents followed by pure-noise future frames, exactly what inference sees at tau_f."""
        b, z, _, h, w = cond_latents.shape
        future = torch.randn(
            (b, z, self.cfg.num_latent_frames - self.cfg.num_cond_latent_frames, h, w),
            generator=generator,
            device=cond_latents.device,
            dtype=cond_latents.dtype,
        )
        return torch.cat([cond_latents, future], dim=2)

    @torch.no_grad()
    def features(
        self,
        cond_frames: torch.Tensor,
        prompt_embeds: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        last_block: Optional[int] = None,
    ) -> torch.Tensor:
        """Observation frames (B,Tc,3,H,W) in [0,1] -> visual tokens (B, num_tokens, hidden_size), detached.

        Only the Tc conditioning frames are VAE-encoded and the trunk stops after the hooked block.
        """
        pixels = self._pixels(cond_frames, "cond_frames", self.cfg.num_cond_frames)
        batch = pixels.shape[0]
        prompt = self._check_prompt(prompt_embeds, batch)
        cond = self.encode(pixels)
        latents = self._feature_latents(cond, generator)
        indicator, cond_mask, padding = self._masks(batch, latents.device)
        tau = torch.full((batch,), self.cfg.tau_f, device=latents.device)
        return self.trunk_features(latents, self._timestep(indicator, tau), prompt, cond_mask, padding, last_block)

    def sample_time(self, batch: int, generator: Optional[torch.Generator], device: torch.device) -> torch.Tensor:
        from dit4dit_ros.model.flow_matching import sample_logit_normal_time, sample_uniform_time

        if self.cfg.time_sampling == "uniform":
            return sample_uniform_time(batch, generator=generator).to(device)
        return sample_logit_normal_time(
            batch,
            mean=self.cfg.time_mean,
            std=self.cfg.time_std,
            high_sigma_ratio=self.cfg.high_sigma_ratio,
            high_sigma_min=self.cfg.high_sigma_min,
            generator=generator,
        ).to(device)

    def training_forward(
        self,
        clip: torch.Tensor,
        prompt_embeds: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        with_features: bool = True,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Clip (B,T,3,H,W) in [0,1] -> (video flow-matching loss on the future latent frames, tokens at tau_f).

        Loss: x_t = (1-t) x0 + t n on future frames (conditioning frames pinned to x0 at t=0.0001), target
        v = n - x0, MSE over future frames only. The tokens come from a separate no-grad truncated pass at tau_f
        with pure-noise future frames (as at inference), so the action branch never sees the future.
        """
        from dit4dit_ros.model.cosmos_trunk import full_forward

        pixels = self._pixels(clip, "clip", self.cfg.num_frames)
        batch = pixels.shape[0]
        prompt = self._check_prompt(prompt_embeds, batch)
        x0 = self.encode(pixels)
        indicator, cond_mask, padding = self._masks(batch, x0.device)
        t = self.sample_time(batch, generator, x0.device)
        noise = self._noise(x0, generator)
        tt = t.view(-1, 1, 1, 1, 1)
        x_t = cond_mask * x0 + (1.0 - cond_mask) * ((1.0 - tt) * x0 + tt * noise)
        v = full_forward(self.transformer, x_t, self._timestep(indicator, t), prompt, cond_mask, padding)
        future = 1.0 - cond_mask
        err = (v.float() - (noise - x0)) ** 2 * future
        loss = err.sum() / (future.sum() * x0.shape[1]).clamp_min(1.0)
        feats = None
        if with_features:
            with torch.no_grad():
                tc = self.cfg.num_cond_latent_frames
                latents = self._feature_latents(x0[:, :, :tc], generator)
                tau = torch.full((batch,), self.cfg.tau_f, device=x0.device)
                feats = self.trunk_features(latents, self._timestep(indicator, tau), prompt, cond_mask, padding)
        return loss, feats
