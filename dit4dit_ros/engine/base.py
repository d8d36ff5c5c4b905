"""The policy-engine interface: robot observations in, a raw action chunk out, whatever the backend.

Every backend (torch, onnxruntime, tensorrt) shares the robot-facing half defined here: input validation, the
state/action codec (model/normalization.py) and the prompt-embedding lookup, so that backends differ only in
how they run the network. Inputs are checked strictly because a silently mis-shaped frame or joint vector
produces plausible-looking but wrong actions on a real robot.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

ENGINE_KINDS = ("torch", "onnxruntime", "tensorrt")


class UnknownInstructionError(KeyError):
    """An instruction without a cached prompt embedding; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class PolicyOutput:
    """One predicted chunk: raw radians in layout action order, the model's normalised chunk and stage timings (s)."""

    actions: np.ndarray  # (H, n_action_joints) float64, radians
    actions_normalized: np.ndarray  # (H, action_dim) float32, model space (padded dims included)
    timings: dict[str, float] = field(default_factory=dict)


class StageTimer:
    """Collects wall-clock seconds per named stage; `sync` (e.g. torch.cuda.synchronize) runs before each reading."""

    def __init__(self, sync=None) -> None:
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
    """Backend-independent policy: `predict(frames, joint_positions, instruction) -> PolicyOutput`."""

    #: Known prompts (instructions with a cached embedding).
    instructions: tuple[str, ...]
    horizon: int
    control_period: float  # seconds between two actions of a chunk
    action_joint_names: tuple[str, ...]
    state_joint_names: tuple[str, ...]
    image_size: tuple[int, int]  # (height, width) of the frames the model takes
    num_cond_frames: int  # observation frames per prediction, oldest first

    @abstractmethod
    def predict(self, frames: Sequence[np.ndarray], joint_positions: np.ndarray, instruction: str) -> PolicyOutput:
        """frames: `num_cond_frames` uint8 (H, W, 3) RGB images, oldest first; joint_positions: raw radians in
        `state_joint_names` order; instruction: one of `instructions`."""

    # -- shared validation --------------------------------------------------------------------------------------
    def check_instruction(self, instruction: str) -> str:
        if not isinstance(instruction, str) or instruction not in self.instructions:
            raise UnknownInstructionError(
                f"instruction {instruction!r} has no cached prompt embedding; known instructions: "
                f"{sorted(self.instructions)} (add it with `dit4dit embed-prompts`)"
            )
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
        return stacked.transpose(0, 3, 1, 2)[None]

    def joints_to_array(self, joint_positions: np.ndarray) -> np.ndarray:
        q = np.asarray(joint_positions, dtype=np.float64)
        n = len(self.state_joint_names)
        if q.shape != (n,):
            raise ValueError(f"joint_positions has shape {q.shape}, expected ({n},) raw radians in the order "
                             f"{list(self.state_joint_names)}")
        if not np.all(np.isfinite(q)):
            raise ValueError("joint_positions contains NaN or inf")
        return q


def make_engine(kind: str, checkpoint_dir: str, device: str = "cpu", **kwargs) -> PolicyEngine:
    """Build the engine of `kind` for a checkpoint directory (see model/checkpoint.py)."""
    if kind == "torch":
        from dit4dit_ros.engine.torch_engine import TorchEngine

        return TorchEngine(checkpoint_dir, device=device, **kwargs)
    if kind in ("onnxruntime", "tensorrt"):
        import importlib

        module_name = {"onnxruntime": "dit4dit_ros.engine.ort_engine", "tensorrt": "dit4dit_ros.engine.trt_engine"}[kind]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise NotImplementedError(f"engine kind {kind!r} is not available in this build ({module_name} "
                                          "missing); use 'torch'") from exc
            raise
        return module.make(checkpoint_dir, device=device, **kwargs)
    raise ValueError(f"unknown engine kind {kind!r}; expected one of {ENGINE_KINDS}")
