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

import logging
import os
import threading
from typing import Any, Callable, Optional

import torch
from torch import nn

from dit4dit_ros.model.cosmos_text import TextKV, install_text_processors, project_text, text_keys_values
from dit4dit_ros.model.hook import BlockOutputCapture
from dit4dit_ros.model.video_config import REQUIRED_TRANSFORMER_KEYS, VideoBackboneConfig

log = logging.getLogger(__name__)
__all__ = ["VideoBackbone", "VideoBackboneConfig"]
TextKVs = tuple[TextKV, ...]  # per-block text keys/values of one instruction (`VideoBackbone.text_conditioning`)


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
        for key in REQUIRED_TRANSFORMER_KEYS:
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
        install_text_processors(self.transformer)  # the blocks' cross-attention also takes cached text keys/values
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

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles get a fresh lock (a lock cannot be copied)
        state = self.__dict__.copy()
        state.pop("_capture_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
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

    # ---- trunk ----------------------------------------------------------------------------------------------
    def text_conditioning(self, prompt_embeds: torch.Tensor, last_block: Optional[int] = None) -> TextKVs:
        """Prompt embeddings (B, L, prompt_embed_dim) -> the text keys/values of blocks 0..last_block (default:
        extract_layer): what the trunk's cross-attention needs of an instruction, computed once per instruction."""
        last = self.cfg.extract_layer if last_block is None else last_block
        text = project_text(self.transformer, self._check_prompt(prompt_embeds, prompt_embeds.shape[0]))
        return text_keys_values(self.transformer, text, last + 1)

    def trunk_features(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        condition_mask: torch.Tensor,
        padding_mask: torch.Tensor,
        last_block: Optional[int] = None,
        projected: bool = False,
    ) -> torch.Tensor:
        """Hooked tokens of block `extract_layer`; the trunk runs blocks 0..last_block (default: extract_layer).

        `prompt_embeds` is already projected (`text_conditioning`) when `projected`. `last_block` > extract_layer
        exists for the benches (cost of running further) and the tests.
        """
        from dit4dit_ros.model.cosmos_trunk import prepare_trunk_inputs, run_blocks

        last = self.cfg.extract_layer if last_block is None else last_block
        if last < self.cfg.extract_layer:
            raise ValueError(f"last_block ({last}) must be >= extract_layer ({self.cfg.extract_layer})")
        block = self.transformer.transformer_blocks[self.cfg.extract_layer]
        with BlockOutputCapture(block, self._capture_lock, detach=True) as capture:
            inputs = prepare_trunk_inputs(
                self.transformer, latents, timestep, prompt_embeds, condition_mask, padding_mask, projected
            )
            run_blocks(self.transformer, inputs, last)
            return capture.output

    def future_noise_shape(self, batch: int) -> tuple[int, ...]:
        """Shape of the noise that stands in for the future latent frames at tau_f."""
        h, w = self.cfg.latent_size
        frames = self.cfg.num_latent_frames - self.cfg.num_cond_latent_frames
        return (batch, self.cfg.latent_channels, frames, h, w)

    def _feature_latents(self, cond_latents: torch.Tensor, generator: Optional[torch.Generator],
                         noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Conditioning latents followed by pure-noise future frames, exactly what inference sees at tau_f.

        `noise`: the future frames' noise (`future_noise_shape`); drawn from `generator` when None."""
        shape = self.future_noise_shape(cond_latents.shape[0])
        if noise is None:
            future = torch.randn(shape, generator=generator, device=cond_latents.device, dtype=cond_latents.dtype)
        elif tuple(noise.shape) != shape:
            raise ValueError(f"video noise must have shape {shape} (future latent frames), got {tuple(noise.shape)}")
        else:
            future = noise.to(cond_latents.device, cond_latents.dtype)
        return torch.cat([cond_latents, future], dim=2)

    def tokens_from_latents(
        self,
        cond_latents: torch.Tensor,
        text_kv: TextKVs,
        noise: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        last_block: Optional[int] = None,
    ) -> torch.Tensor:
        """Normalised conditioning latents + text keys/values (`text_conditioning`) -> visual tokens at tau_f."""
        latents = self._feature_latents(cond_latents, generator, noise)
        batch = latents.shape[0]
        indicator, cond_mask, padding = self._masks(batch, latents.device)
        tau = torch.full((batch,), self.cfg.tau_f, device=latents.device)
        return self.trunk_features(latents, self._timestep(indicator, tau), text_kv, cond_mask, padding,
                                   last_block, projected=True)

    def encode_frames(self, cond_frames: torch.Tensor) -> torch.Tensor:
        """Observation frames (B,Tc,3,H,W) in [0,1] -> normalised conditioning latents (first-frame encode only)."""
        return self.encode(self._pixels(cond_frames, "cond_frames", self.cfg.num_cond_frames))

    @torch.no_grad()
    def features(
        self,
        cond_frames: torch.Tensor,
        prompt_embeds: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        last_block: Optional[int] = None,
        *,
        text_kv: Optional[TextKVs] = None,
        noise: Optional[torch.Tensor] = None,
        on_stage: Optional[Callable[[str], None]] = None,
    ) -> torch.Tensor:
        """Observation frames (B,Tc,3,H,W) in [0,1] -> visual tokens (B, num_tokens, hidden_size), detached.

        Only the Tc conditioning frames are VAE-encoded and the trunk stops after the hooked block. Give either the
        prompt embeddings or their `text_kv` (`text_conditioning`, cached per instruction by the engines);
        `noise` fixes the future frames' noise. `on_stage(name)` is called after "vae_encode" and "video_trunk".
        """
        if (prompt_embeds is None) == (text_kv is None):
            raise ValueError("features: give exactly one of prompt_embeds and text_kv")
        stage = on_stage or (lambda name: None)
        cond = self.encode_frames(cond_frames)
        stage("vae_encode")
        if text_kv is None:
            text_kv = self.text_conditioning(prompt_embeds, last_block)
        elif text_kv[0].key.shape[0] != cond.shape[0]:
            raise ValueError(f"text_kv has batch {text_kv[0].key.shape[0]}, frames have {cond.shape[0]}")
        tokens = self.tokens_from_latents(cond, text_kv, noise, generator, last_block)
        stage("video_trunk")
        return tokens

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
                feats = self.tokens_from_latents(x0[:, :, :tc], self.text_conditioning(prompt), generator=generator)
        return loss, feats
