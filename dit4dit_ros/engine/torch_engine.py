"""The PyTorch policy engine: a checkpoint directory run eagerly on CPU or CUDA, timed per stage.

Per call: VAE-encode the observation frame(s) -> video trunk up to the hooked block -> N Euler steps of the action DiT.
It runs the model's own inference path (`DiT4DiT.predict`) and times it through the model's stage callbacks, so there
is one implementation of the forward, not a timed copy. The trunk's text conditioning (the prompt's projection and
every block's text keys/values) depends on the instruction only: it is computed once per instruction and kept.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np
import torch

from dit4dit_ros.engine.base import PolicyEngine, PolicyNoise

log = logging.getLogger(__name__)
#: precision name (engine/manifest.py PRECISIONS) -> the dtype the weights are cast to
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available in this torch build")
    return dev


class TorchEngine(PolicyEngine):
    """Eager PyTorch backend. `seed` seeds the engine's noise generator once (reproducible runs); None = random."""

    def __init__(self, checkpoint_dir: str, device: str = "cpu", seed: Optional[int] = 0,
                 num_steps: Optional[int] = None, num_threads: int = 0, precision: str = "fp32",
                 prompt_cache: Any = None) -> None:
        from dit4dit_ros.model.checkpoint import load_checkpoint

        dev = _device(device)
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        if precision not in TORCH_DTYPES:
            raise ValueError(f"precision must be one of {tuple(TORCH_DTYPES)}, got {precision!r}")
        model, cfg, normalization, cache = load_checkpoint(checkpoint_dir, device=dev)
        model.to(TORCH_DTYPES[precision])  # the whole model computes in this dtype (bf16 is the usual GPU choice)
        self._setup(model, normalization, prompt_cache if prompt_cache is not None else cache, dev, seed,
                    num_steps, str(checkpoint_dir))

    @classmethod
    def from_model(cls, model: Any, normalization: Any, prompt_cache: Any, device: str = "cpu",
                   seed: Optional[int] = 0, num_steps: Optional[int] = None) -> "TorchEngine":
        """An engine around an in-memory DiT4DiT (benches, tests, right after training)."""
        engine = cls.__new__(cls)
        dev = _device(device)
        engine._setup(model.to(dev).eval(), normalization, prompt_cache, dev, seed, num_steps, "<memory>")
        return engine

    def _setup(self, model: Any, normalization: Any, prompt_cache: Any, device: torch.device,
               seed: Optional[int], num_steps: Optional[int], source: str) -> None:
        self.device = device
        self.model = model
        self._setup_io(model.cfg, normalization, prompt_cache, seed, num_steps)
        self._text_kv: dict[str, tuple] = {}
        if not self.instructions:
            log.warning("checkpoint %s has no prompt cache: every instruction will be rejected", source)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def text_kv(self, instruction: str) -> tuple:
        """The instruction's text keys/values for the trunk's blocks, computed on first use and kept."""
        self.check_instruction(instruction)
        if instruction not in self._text_kv:
            emb = torch.as_tensor(self.prompt_cache.get(instruction)).to(self.device, torch.float32)[None]
            self._text_kv[instruction] = self.model.video.text_conditioning(emb)
        return self._text_kv[instruction]

    @torch.no_grad()
    def _run(self, pixels: np.ndarray, state: np.ndarray, instruction: str, noise: PolicyNoise,
             on_stage: Callable[[str], None]) -> np.ndarray:
        obs = {
            "frames": torch.from_numpy(pixels).to(self.device),
            "state": torch.from_numpy(state).to(self.device),
            "text_kv": self.text_kv(instruction),
        }
        chunk = self.model.predict(
            obs, num_steps=self.num_steps, video_noise=torch.from_numpy(noise.video).to(self.device),
            action_noise=torch.from_numpy(noise.action).to(self.device), on_stage=on_stage)
        return chunk.float().cpu().numpy()


def make(checkpoint_dir: str, device: str = "cpu", **options: Any) -> TorchEngine:
    """The factory's entry point (engine/factory.py)."""
    return TorchEngine(checkpoint_dir, device=device, **options)
