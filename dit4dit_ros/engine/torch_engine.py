"""The PyTorch policy engine: a checkpoint directory run eagerly on CPU or CUDA, timed per stage.

Per call: validate inputs -> VAE-encode the observation frame(s) -> video trunk up to the hooked block -> N Euler
steps of the action DiT -> unnormalise. The stages are timed separately (with CUDA synchronisation) because the
latency budget of the 6 Hz loop is spent very unevenly between them.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np
import torch

from dit4dit_ros.engine.base import PolicyEngine, PolicyOutput, StageTimer
from dit4dit_ros.model.normalization import StateActionCodec

log = logging.getLogger(__name__)


def timed_features(model: Any, frames: torch.Tensor, prompt_embeds: torch.Tensor, generator: Optional[torch.Generator],
                   timer: StageTimer, last_block: Optional[int] = None) -> torch.Tensor:
    """VideoBackbone.features split into the "vae_encode" and "video_trunk" stages (same result, tested)."""
    video = model.video
    cfg = video.cfg
    pixels = video._pixels(frames, "frames", cfg.num_cond_frames)
    batch = pixels.shape[0]
    prompt = video._check_prompt(prompt_embeds, batch)
    cond = video.encode(pixels)
    timer.lap("vae_encode")
    latents = video._feature_latents(cond, generator)
    indicator, cond_mask, padding = video._masks(batch, latents.device)
    tau = torch.full((batch,), cfg.tau_f, device=latents.device)
    feats = video.trunk_features(latents, video._timestep(indicator, tau), prompt, cond_mask, padding, last_block)
    timer.lap("video_trunk")
    return feats


def timed_action(model: Any, feats: torch.Tensor, state: torch.Tensor, generator: Optional[torch.Generator],
                 timer: StageTimer, num_steps: Optional[int] = None) -> torch.Tensor:
    """ActionDiT.sample with the state encoding and each Euler step timed ("action_step_i")."""
    from dit4dit_ros.model.flow_matching import euler_time_grid

    head = model.action
    cfg = head.cfg
    steps = cfg.num_inference_steps if num_steps is None else num_steps
    b = feats.shape[0]
    x = torch.randn((b, cfg.horizon, cfg.action_dim), generator=generator, device=feats.device, dtype=feats.dtype)
    state_token = head.encode_state(state.to(feats.dtype))
    timer.lap("action_state")
    for i, t in enumerate(euler_time_grid(steps)):
        bucket = torch.full((b,), int(t * cfg.num_timestep_buckets), device=feats.device, dtype=torch.long)
        x = x - (1.0 / steps) * head.velocity(x, bucket, feats, state_token)
        timer.lap(f"action_step_{i}")
    return x


def _device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available in this torch build")
    return dev


class TorchEngine(PolicyEngine):
    """Eager PyTorch backend. `seed` seeds the engine's generator once (reproducible runs); None = random."""

    def __init__(self, checkpoint_dir: str, device: str = "cpu", seed: Optional[int] = 0,
                 num_steps: Optional[int] = None, prompt_cache: Any = None) -> None:
        from dit4dit_ros.model.checkpoint import load_checkpoint

        dev = _device(device)
        model, cfg, normalization, cache = load_checkpoint(checkpoint_dir, device=dev)
        self._setup(model, cfg, normalization, prompt_cache if prompt_cache is not None else cache, dev, seed,
                    num_steps, str(checkpoint_dir))

    @classmethod
    def from_model(cls, model: Any, normalization: Any, prompt_cache: Any, device: str = "cpu",
                   seed: Optional[int] = 0, num_steps: Optional[int] = None) -> "TorchEngine":
        """An engine around an in-memory DiT4DiT (benches, tests, right after training)."""
        engine = cls.__new__(cls)
        dev = _device(device)
        engine._setup(model.to(dev).eval(), model.cfg, normalization, prompt_cache, dev, seed, num_steps, "<memory>")
        return engine

    def _setup(self, model: Any, cfg: Any, normalization: Any, prompt_cache: Any, device: torch.device,
               seed: Optional[int], num_steps: Optional[int], source: str) -> None:
        self.device = device
        self.model, self.cfg, self.normalization, self.prompt_cache = model, cfg, normalization, prompt_cache
        self.codec = StateActionCodec(cfg.layout, normalization, cfg.action.state_dim, cfg.action.action_dim)
        self.num_steps = num_steps
        self.generator = torch.Generator(device=device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self._prompts: dict[str, torch.Tensor] = {}
        self.instructions = tuple(prompt_cache.instructions) if prompt_cache is not None else ()
        if not self.instructions:
            log.warning("checkpoint %s has no prompt cache: every instruction will be rejected", source)
        self.horizon = cfg.action.horizon
        self.control_period = float(cfg.layout.control_period)
        self.action_joint_names = tuple(cfg.layout.action_joints)
        self.state_joint_names = tuple(cfg.layout.state_joints)
        self.image_size = tuple(cfg.video.image_size)
        self.num_cond_frames = int(cfg.video.num_cond_frames)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def prompt_embeds(self, instruction: str) -> torch.Tensor:
        self.check_instruction(instruction)
        if instruction not in self._prompts:
            emb = torch.as_tensor(self.prompt_cache.get(instruction))
            self._prompts[instruction] = emb.to(self.device, torch.float32)[None]
        return self._prompts[instruction]

    @torch.no_grad()
    def predict(self, frames: Sequence[np.ndarray], joint_positions: np.ndarray, instruction: str,
                last_block: Optional[int] = None) -> PolicyOutput:
        timer = StageTimer(self._sync)
        prompt = self.prompt_embeds(instruction)
        pixels = torch.from_numpy(self.frames_to_array(frames)).to(self.device)
        state = torch.from_numpy(self.codec.encode_state(self.joints_to_array(joint_positions))[None]).to(self.device)
        timer.lap("preprocess")
        self.model.eval()
        feats = timed_features(self.model, pixels, prompt, self.generator, timer, last_block=last_block)
        normalized = timed_action(self.model, feats, state, self.generator, timer, self.num_steps)
        norm_np = normalized[0].float().cpu().numpy()
        actions = self.codec.unnormalize_action(norm_np)
        timer.lap("postprocess")
        return PolicyOutput(actions=actions, actions_normalized=norm_np.astype(np.float32), timings=timer.finish())
