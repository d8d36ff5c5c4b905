"""The TensorRT policy engine: one TensorRT plan per exported stage, run on a CUDA stream with torch buffers.

The plans are built from the stages' ONNX graphs (engine/trt_build.py, cached per GPU model + TensorRT version +
graph hash). Inputs and outputs are torch CUDA tensors whose addresses are handed to TensorRT, so no extra CUDA
binding library is needed and every stage, the Euler loop (`flow_matching.euler_integrate`) included, stays on
the GPU. With `cuda_graph=True` the action loop (every Euler step's plan plus the updates) is captured once into a
CUDA graph and replayed (one launch per chunk instead of a few dozen); its steps are then timed as one stage,
"action_steps". Stage timings otherwise have the torch engine's names.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from dit4dit_ros.engine.base import PolicyEngine, PolicyNoise
from dit4dit_ros.engine.manifest import EngineError, StageEntry, check_prompt_length, verify_manifest
from dit4dit_ros.engine.stages import STAGE_NAMES
from dit4dit_ros.engine.trt_build import cached_plan, import_tensorrt
from dit4dit_ros.model.flow_matching import euler_integrate, euler_time_grid, time_bucket_of

log = logging.getLogger(__name__)
KIND = "tensorrt"


def _torch_dtype(trt: Any, dtype: Any) -> Any:
    import torch

    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16,
             trt.int64: torch.int64, trt.int32: torch.int32}
    if dtype not in table:
        raise EngineError(f"unsupported TensorRT I/O dtype {dtype}")
    return table[dtype]


class TrtStage:
    """One deserialized plan with its execution context and its (reused) output buffers."""

    def __init__(self, trt: Any, runtime: Any, plan: bytes, device: Any, name: str) -> None:
        import torch

        self.name = name
        self.engine = runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise EngineError(f"stage {name}: TensorRT cannot deserialize its plan (built by another version?)")
        self.context = self.engine.create_execution_context()
        self.inputs: list[tuple[str, tuple[int, ...], Any]] = []
        self.outputs: dict[str, Any] = {}
        for i in range(self.engine.num_io_tensors):
            tensor = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(tensor))
            dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(tensor))
            if self.engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT:
                self.inputs.append((tensor, shape, dtype))
            else:
                buffer = torch.empty(shape, dtype=dtype, device=device)
                self.outputs[tensor] = buffer
                self.context.set_tensor_address(tensor, buffer.data_ptr())

    def __call__(self, stream: Any, feeds: dict[str, Any]) -> dict[str, Any]:
        """Enqueue the stage on `stream`; the returned buffers are overwritten by the next call."""
        for tensor, shape, dtype in self.inputs:
            value = feeds[tensor]
            if tuple(value.shape) != shape or value.dtype != dtype or not value.is_contiguous():
                raise EngineError(f"stage {self.name}: input {tensor} is {tuple(value.shape)} {value.dtype}, "
                                  f"the plan takes a contiguous {shape} {dtype}")
            self.context.set_tensor_address(tensor, value.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise EngineError(f"stage {self.name}: TensorRT enqueue failed")
        return self.outputs


class TrtEngine(PolicyEngine):
    """TensorRT plans of a checkpoint's exported graphs (engines/tensorrt-<precision>) on one CUDA device."""

    def __init__(self, checkpoint_dir: str, device: str = "cuda", seed: Optional[int] = 0,
                 num_steps: Optional[int] = None, num_threads: int = 0, precision: str = "bf16",
                 cuda_graph: bool = False) -> None:
        from dit4dit_ros.model.checkpoint import read_checkpoint_meta

        cfg, normalization, cache = read_checkpoint_meta(checkpoint_dir)
        directory, manifest = verify_manifest(checkpoint_dir, KIND, precision, STAGE_NAMES)
        check_prompt_length(checkpoint_dir, KIND, precision, manifest, cache)
        self._open(directory, manifest.stages, cfg, normalization, cache, device, seed, num_steps, cuda_graph)

    @classmethod
    def from_export(cls, directory: str | Path, stages: dict[str, StageEntry], cfg: Any, normalization: Any,
                    prompt_cache: Any, device: str = "cuda", seed: Optional[int] = 0,
                    num_steps: Optional[int] = None, cuda_graph: bool = False) -> "TrtEngine":
        """Graphs just exported from an in-memory model (benches): no checkpoint, so no manifest to verify."""
        engine = cls.__new__(cls)
        engine._open(Path(directory), stages, cfg, normalization, prompt_cache, device, seed, num_steps, cuda_graph)
        return engine

    def _open(self, directory: Path, stages: dict[str, StageEntry], cfg: Any, normalization: Any, prompt_cache: Any,
              device: str, seed: Optional[int], num_steps: Optional[int], cuda_graph: bool) -> None:
        import torch

        trt = import_tensorrt()
        if not device.startswith("cuda") or not torch.cuda.is_available():
            raise EngineError(f"the tensorrt engine runs on a CUDA device; got device {device!r} "
                              f"(CUDA available: {torch.cuda.is_available()})")
        self._setup_io(cfg, normalization, prompt_cache, seed, num_steps)
        self.device = torch.device(device)
        self.gpu_name = torch.cuda.get_device_name(self.device)
        self.trt_version = str(trt.__version__)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.stages: dict[str, TrtStage] = {}
        with torch.cuda.device(self.device):
            for name in STAGE_NAMES:
                entry = stages[name]
                plan = cached_plan(directory / entry.file, entry.files[entry.file], directory / "cache", self.gpu_name)
                self.stages[name] = TrtStage(trt, runtime, plan, self.device, name)
            self.stream = torch.cuda.Stream(self.device)
            buckets = cfg.action.num_timestep_buckets
            # one constant bucket tensor per Euler step: nothing is written on the host side inside the loop
            self._buckets = {t: torch.tensor([time_bucket_of(t, buckets)], dtype=torch.int64, device=self.device)
                             for t in euler_time_grid(self.num_steps)}
        self._text_kv: dict[str, dict[str, Any]] = {}
        self.cuda_graph = bool(cuda_graph)
        self._graph: Any = None
        if not self.instructions:
            log.warning("engine %s has no prompt cache: every instruction will be rejected", directory)

    def _sync(self) -> None:
        self.stream.synchronize()

    def _tensor(self, array: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=False)

    def text_kv(self, instruction: str) -> dict[str, Any]:
        """The instruction's text keys/values (device tensors), computed by the text_conditioning plan once."""
        import torch

        self.check_instruction(instruction)
        if instruction not in self._text_kv:
            prompt = self._tensor(np.asarray(self.prompt_cache.get(instruction), dtype=np.float32)[None])
            with torch.cuda.stream(self.stream):
                outputs = self.stages["text_conditioning"](self.stream, {"prompt_embeds": prompt})
                self._text_kv[instruction] = {k: v.clone() for k, v in outputs.items()}  # buffers are reused
            self._sync()
        return self._text_kv[instruction]

    def _action_loop(self, x0: Any, context: dict[str, Any], on_step: Optional[Callable[[int], None]]) -> Any:
        velocity = self.stages["action_velocity"]

        def velocity_at(x: Any, t: float) -> Any:
            feeds = dict(context, noisy_actions=x.contiguous(), time_bucket=self._buckets[t])
            return velocity(self.stream, feeds)["velocity"]

        return euler_integrate(velocity_at, x0, self.num_steps, on_step=on_step)

    def _graph_loop(self, context: dict[str, Any]) -> tuple[Any, Any]:
        """Capture the action loop once (after one eager run, which TensorRT needs before a capture)."""
        import torch

        static_x0 = torch.zeros(self.noise_shapes["action"], device=self.device)
        self._action_loop(static_x0, context, None)
        self._sync()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            out = self._action_loop(static_x0, context, None)
        return graph, (static_x0, out)

    def _run(self, pixels: np.ndarray, state: np.ndarray, instruction: str, noise: PolicyNoise,
             on_stage: Callable[[str], None]) -> np.ndarray:
        import torch

        text_kv = self.text_kv(instruction)
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            frames, state_t = self._tensor(pixels), self._tensor(state)
            video_noise, action_noise = self._tensor(noise.video), self._tensor(noise.action)
            cond = self.stages["vae_encode"](self.stream, {"frames": frames})["cond_latents"]
            on_stage("vae_encode")
            feeds = {"cond_latents": cond, "video_noise": video_noise, **text_kv}
            tokens = self.stages["video_trunk"](self.stream, feeds)["visual_tokens"]
            on_stage("video_trunk")
            context = self.stages["action_context"](self.stream, {"visual_tokens": tokens, "state": state_t})
            on_stage("action_context")
            if self.cuda_graph:
                if self._graph is None:  # the context buffers are the stage's own: their addresses never change
                    self._graph, (self._graph_x0, self._graph_out) = self._graph_loop(context)
                self._graph_x0.copy_(action_noise)
                self._graph.replay()
                chunk = self._graph_out
                on_stage("action_steps")
            else:
                chunk = self._action_loop(action_noise, context, lambda i: on_stage(f"action_step_{i}"))
            result = chunk.float().cpu().numpy()
        return result


def make(checkpoint_dir: str, device: str = "cuda", **options: Any) -> TrtEngine:
    """The factory's entry point (engine/factory.py)."""
    return TrtEngine(checkpoint_dir, device=device, **options)
