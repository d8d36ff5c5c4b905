"""The policy-engine interface: robot observations in, a raw action chunk out, whatever the backend.

Every backend (torch, onnxruntime, tensorrt) shares the robot-facing half defined here: input validation, the
state/action codec (model/normalization.py), the prompt-embedding lookup, the initial noise and the stage timer, so
that backends differ only in how they run the network (`_run`). Inputs are checked strictly because a silently
mis-shaped frame or joint vector produces plausible-looking but wrong actions on a real robot.

This module never imports a backend: `engine/factory.py` resolves them by name.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from dit4dit_ros.model.prompt_cache import UnknownInstructionError

__all__ = ["PolicyEngine", "PolicyNoise", "PolicyOutput", "StageTimer", "UnknownInstructionError"]


@dataclass
class PolicyOutput:
    """One predicted chunk: raw radians in layout action order, the model's normalised chunk and stage timings (s)."""

    actions: np.ndarray  # (H, n_action_joints) float64, radians
    actions_normalized: np.ndarray  # (H, action_dim) float32, model space (padded dims included)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class PolicyNoise:
    """The initial noise of one prediction, per branch (float32, batch 1).

    video: the future latent frames at tau_f (1, z, T_future, h, w); action: the Euler start (1, H, action_dim).
    Given explicitly it makes two engines (or two runs) comparable; otherwise each engine draws it from its seeded
    generator, the same way in every backend, so one seed means the same noise for torch, ONNX Runtime and TensorRT.
    """

    video: np.ndarray
    action: np.ndarray


class StageTimer:
    """Collects wall-clock seconds per named stage; `sync` (e.g. torch.cuda.synchronize) runs before each reading."""

    def __init__(self, sync: Optional[Callable[[], None]] = None) -> None:
        self.timings: dict[str, float] = {}
        self._sync = sync
        self._t0 = self._last = self._now()

    def _now(self) -> float:
        if self._sync is not None:
            self._sync()
        return time.perf_counter()

    def lap(self, stage: str) -> None:
        now = self._now()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._last)
        self._last = now

    def finish(self) -> dict[str, float]:
        self.timings["total"] = self._now() - self._t0
        return self.timings


class PolicyEngine(ABC):
    """Backend-independent policy: `predict(frames, joint_positions, instruction) -> PolicyOutput`.

    A backend calls `_setup_io` once (config, statistics, prompt cache, seed) and implements `_run`.
    """

    #: Known prompts (instructions with a cached embedding).
    instructions: tuple[str, ...]
    horizon: int
    control_period: float  # seconds between two actions of a chunk
    action_joint_names: tuple[str, ...]
    state_joint_names: tuple[str, ...]
    image_size: tuple[int, int]  # (height, width) of the frames the model takes
    num_cond_frames: int  # observation frames per prediction, oldest first
    num_steps: int  # Euler steps of the action head per prediction

    def _setup_io(self, cfg: Any, normalization: Any, prompt_cache: Any, seed: Optional[int],
                  num_steps: Optional[int]) -> None:
        """The robot-facing half shared by every backend."""
        import torch

        from dit4dit_ros.model.normalization import StateActionCodec

        self.cfg, self.normalization, self.prompt_cache = cfg, normalization, prompt_cache
        self.codec = StateActionCodec(cfg.layout, normalization, cfg.action.state_dim, cfg.action.action_dim)
        if num_steps is not None and (not isinstance(num_steps, int) or num_steps < 1):
            raise ValueError(f"num_steps must be a positive int or None (the config's), got {num_steps!r}")
        self.num_steps = int(num_steps or cfg.action.num_inference_steps)
        # Noise comes from torch's CPU generator in every backend: a seed means the same noise everywhere.
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self.instructions = tuple(prompt_cache.instructions) if prompt_cache is not None else ()
        self.horizon = cfg.action.horizon
        self.control_period = float(cfg.layout.control_period)
        self.action_joint_names = tuple(cfg.layout.action_joints)
        self.state_joint_names = tuple(cfg.layout.state_joints)
        self.image_size = tuple(cfg.video.image_size)
        self.num_cond_frames = int(cfg.video.num_cond_frames)
        v = cfg.video
        h, w = v.latent_size
        self.noise_shapes = {
            "video": (1, v.latent_channels, v.num_latent_frames - v.num_cond_latent_frames, h, w),
            "action": (1, cfg.action.horizon, cfg.action.action_dim),
        }

    # -- the call -------------------------------------------------------------------------------------------------
    def predict(self, frames: Sequence[np.ndarray], joint_positions: np.ndarray, instruction: str,
                noise: Optional[PolicyNoise] = None) -> PolicyOutput:
        """frames: `num_cond_frames` uint8 (H, W, 3) RGB images, oldest first; joint_positions: raw radians in
        `state_joint_names` order; instruction: one of `instructions`; noise: optional explicit initial noise."""
        timer = StageTimer(self._sync)
        self.check_instruction(instruction)
        pixels = self.frames_to_array(frames)
        state = self.codec.encode_state(self.joints_to_array(joint_positions))[None].astype(np.float32)
        noise = self.draw_noise() if noise is None else self.check_noise(noise)
        timer.lap("preprocess")
        normalized = np.asarray(self._run(pixels, state, instruction, noise, timer.lap), dtype=np.float32)
        actions = self.codec.unnormalize_action(normalized[0])
        timer.lap("postprocess")
        return PolicyOutput(actions=actions, actions_normalized=normalized[0], timings=timer.finish())

    @abstractmethod
    def _run(self, pixels: np.ndarray, state: np.ndarray, instruction: str, noise: PolicyNoise,
             on_stage: Callable[[str], None]) -> np.ndarray:
        """pixels (1, Tc, 3, H, W) float32 in [0, 1], encoded state (1, state_dim) float32 -> normalised chunk
        (1, H, action_dim); calls `on_stage` after "vae_encode", "video_trunk", "action_context", "action_step_<i>"."""

    def _sync(self) -> None:
        """Wait for queued device work before a stage time is read (GPU backends override it)."""

    # -- noise ----------------------------------------------------------------------------------------------------
    def draw_noise(self, seed: Optional[int] = None) -> PolicyNoise:
        """The next initial noise from the engine's generator (or, given `seed`, from a generator of that seed
        alone): the video branch's first, then the action's."""
        import torch

        generator = self.generator if seed is None else torch.Generator(device="cpu").manual_seed(int(seed))
        video = torch.randn(self.noise_shapes["video"], generator=generator)
        action = torch.randn(self.noise_shapes["action"], generator=generator)
        return PolicyNoise(video=video.numpy(), action=action.numpy())

    def check_noise(self, noise: PolicyNoise) -> PolicyNoise:
        if not isinstance(noise, PolicyNoise):
            raise TypeError(f"noise must be a PolicyNoise, got {type(noise).__name__}")
        arrays = {}
        for branch, shape in self.noise_shapes.items():
            arr = np.asarray(getattr(noise, branch), dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"{branch} noise has shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{branch} noise contains NaN or inf")
            arrays[branch] = arr
        return PolicyNoise(**arrays)

    # -- shared validation ----------------------------------------------------------------------------------------
    def check_instruction(self, instruction: str) -> str:
        if not isinstance(instruction, str) or instruction not in self.instructions:
            raise UnknownInstructionError(instruction, self.instructions)
        return instruction

    def frames_to_array(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Validate frames -> float32 (1, Tc, 3, H, W) in [0, 1]."""
        h, w = self.image_size
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            raise ValueError(f"frames must be a list of {self.num_cond_frames} images, got one array; wrap it: [frame]")
        frames = list(frames)
        if len(frames) != self.num_cond_frames:
            raise ValueError(f"expected {self.num_cond_frames} frame(s) (oldest first), got {len(frames)}")
        for i, f in enumerate(frames):
            if not isinstance(f, np.ndarray):
                raise TypeError(f"frame {i} must be a numpy array, got {type(f).__name__}")
            if f.dtype != np.uint8:
                raise ValueError(f"frame {i} has dtype {f.dtype}, expected uint8 RGB (H, W, 3) = ({h}, {w}, 3)")
            if f.shape != (h, w, 3):
                raise ValueError(f"frame {i} has shape {f.shape}, expected ({h}, {w}, 3) uint8 RGB; resize it first")
        stacked = np.stack(frames).astype(np.float32) / 255.0  # (Tc, H, W, 3)
        return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)[None])

    def joints_to_array(self, joint_positions: np.ndarray) -> np.ndarray:
        q = np.asarray(joint_positions, dtype=np.float64)
        n = len(self.state_joint_names)
        if q.shape != (n,):
            raise ValueError(f"joint_positions has shape {q.shape}, expected ({n},) raw radians in the order "
                             f"{list(self.state_joint_names)}")
        if not np.all(np.isfinite(q)):
            raise ValueError("joint_positions contains NaN or inf")
        return q
