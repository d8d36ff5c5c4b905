"""The ONNX Runtime policy engine: the exported stage graphs (engine/onnx_export.py) behind PolicyEngine.

Per call: vae_encode -> video_trunk (with the instruction's text keys/values, computed once per instruction by
the text_conditioning graph) -> action_context (state token + visual keys/values, once per chunk) -> the Euler loop
(`flow_matching.euler_integrate`, the model's own sampler loop) over the action_velocity graph. Stage timings have
the torch engine's names. Providers: the CPU provider for device "cpu"; for "cuda[:N]" the CUDA provider (required)
and the TensorRT provider when this onnxruntime build has it.

An engine directory is used only after its manifest matches the checkpoint's weights (engine/manifest.py).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from dit4dit_ros.engine.base import PolicyEngine, PolicyNoise
from dit4dit_ros.engine.manifest import EngineError, StageEntry, check_prompt_length, verify_manifest
from dit4dit_ros.engine.stages import STAGE_NAMES
from dit4dit_ros.model.flow_matching import euler_integrate, time_bucket_of

log = logging.getLogger(__name__)
KIND = "onnxruntime"


def providers_for(device: str, cache_dir: Path) -> list:
    """ONNX Runtime execution providers for a device string ("cpu", "cuda", "cuda:1")."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise RuntimeError(f"device {device!r} requested but this onnxruntime build has no CUDA provider "
                           f"(available: {available}); install onnxruntime-gpu or use device 'cpu'")
    device_id = int(device.split(":", 1)[1]) if ":" in device else 0
    providers: list = []
    if "TensorrtExecutionProvider" in available:
        providers.append(("TensorrtExecutionProvider", {
            "device_id": device_id, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache_dir)}))
    providers += [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    return providers


class OrtEngine(PolicyEngine):
    """Exported graphs of a checkpoint run by ONNX Runtime; `precision` selects engines/onnxruntime-<precision>."""

    def __init__(self, checkpoint_dir: str, device: str = "cpu", seed: Optional[int] = 0,
                 num_steps: Optional[int] = None, num_threads: int = 0, precision: str = "fp32") -> None:
        from dit4dit_ros.model.checkpoint import read_checkpoint_meta

        cfg, normalization, cache = read_checkpoint_meta(checkpoint_dir)
        directory, manifest = verify_manifest(checkpoint_dir, KIND, precision, STAGE_NAMES)
        check_prompt_length(checkpoint_dir, KIND, precision, manifest, cache)
        self._open(directory, manifest.stages, cfg, normalization, cache, device, seed, num_steps, num_threads)

    @classmethod
    def from_export(cls, directory: str | Path, stages: dict[str, StageEntry], cfg: Any, normalization: Any,
                    prompt_cache: Any, device: str = "cpu", seed: Optional[int] = 0, num_steps: Optional[int] = None,
                    num_threads: int = 0) -> "OrtEngine":
        """Graphs just exported from an in-memory model (benches): no checkpoint, so no manifest to verify."""
        engine = cls.__new__(cls)
        engine._open(Path(directory), stages, cfg, normalization, prompt_cache, device, seed, num_steps, num_threads)
        return engine

    def _open(self, directory: Path, stages: dict[str, StageEntry], cfg: Any, normalization: Any, prompt_cache: Any,
              device: str, seed: Optional[int], num_steps: Optional[int], num_threads: int) -> None:
        from dit4dit_ros.engine.onnx_export import ort_session

        self._setup_io(cfg, normalization, prompt_cache, seed, num_steps)
        self.device = device
        providers = providers_for(device, directory / "ort_trt_cache")
        self.sessions = {}
        for name in STAGE_NAMES:
            entry = stages[name]
            session = ort_session(directory / entry.file, num_threads, providers)
            got = [(i.name, tuple(i.shape)) for i in session.get_inputs()]
            want = [(s.name, s.shape) for s in entry.inputs]
            if got != want:
                raise EngineError(f"{directory / entry.file}: graph inputs {got} differ from the manifest's {want}")
            self.sessions[name] = session
        self.providers = self.sessions["video_trunk"].get_providers()
        self._context_names = [o.name for o in self.sessions["action_context"].get_outputs()]
        self._text_kv: dict[str, dict[str, np.ndarray]] = {}
        if not self.instructions:
            log.warning("engine %s has no prompt cache: every instruction will be rejected", directory)

    def text_kv(self, instruction: str) -> dict[str, np.ndarray]:
        """The instruction's text keys/values by input name, computed by the text_conditioning graph on first use."""
        self.check_instruction(instruction)
        if instruction not in self._text_kv:
            session = self.sessions["text_conditioning"]
            prompt = np.asarray(self.prompt_cache.get(instruction), dtype=np.float32)[None]
            outputs = session.run(None, {"prompt_embeds": prompt})
            self._text_kv[instruction] = {o.name: v for o, v in zip(session.get_outputs(), outputs)}
        return self._text_kv[instruction]

    def _run(self, pixels: np.ndarray, state: np.ndarray, instruction: str, noise: PolicyNoise,
             on_stage: Callable[[str], None]) -> np.ndarray:
        cond = self.sessions["vae_encode"].run(None, {"frames": pixels})[0]
        on_stage("vae_encode")
        tokens = self.sessions["video_trunk"].run(None, {
            "cond_latents": cond, "video_noise": noise.video, **self.text_kv(instruction)})[0]
        on_stage("video_trunk")
        context = self.sessions["action_context"].run(None, {"visual_tokens": tokens, "state": state})
        feeds = dict(zip(self._context_names, context))
        on_stage("action_context")
        velocity, buckets = self.sessions["action_velocity"], self.cfg.action.num_timestep_buckets

        def velocity_at(x: np.ndarray, t: float) -> np.ndarray:
            feeds["noisy_actions"] = np.ascontiguousarray(x, dtype=np.float32)
            feeds["time_bucket"] = np.array([time_bucket_of(t, buckets)], dtype=np.int64)
            return velocity.run(None, feeds)[0]

        return euler_integrate(velocity_at, noise.action, self.num_steps,
                               on_step=lambda i: on_stage(f"action_step_{i}"))


def make(checkpoint_dir: str, device: str = "cpu", **options: Any) -> OrtEngine:
    """The factory's entry point (engine/factory.py)."""
    return OrtEngine(checkpoint_dir, device=device, **options)
