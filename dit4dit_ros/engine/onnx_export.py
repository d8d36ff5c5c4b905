"""Export the policy's stages (engine/stages.py) to ONNX with static shapes, check them, prove them against torch.

`export_engine(checkpoint, kind, precision)` writes <checkpoint>/engines/<kind>-<precision>/: one graph per stage
(opset 18, the TorchScript exporter, which reproduces these graphs in ONNX Runtime to ~1e-6), each passed through
`onnx.checker` and run once in ONNX Runtime against the torch stage on the same inputs; the manifest (written last)
records shapes, precision, opset, the parity figures and the hashes of the weights (engine/manifest.py).

Reduced precision (fp16/bf16) is in the graph itself (the weights are cast before export, the stages cast their
fp32 inputs), as TensorRT 11 requires (strongly typed networks: no precision builder flags). Graphs whose weights
exceed `external_threshold` bytes keep them in one `<stage>.onnx.data` file next to the graph (protobuf's 2 GB limit).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from dit4dit_ros.engine.manifest import (EngineError, EngineManifest, StageEntry, engine_dir, sha256_file,
                                         source_hashes)
from dit4dit_ros.engine.stages import STAGE_NAMES, TensorSpec, stage_modules, stage_specs
from dit4dit_ros.engine.torch_engine import TORCH_DTYPES

log = logging.getLogger(__name__)

OPSET = 18
#: ONNX Runtime vs torch, as a fraction of max(1, max |torch output|)
PARITY_TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 8e-2}
EXTERNAL_THRESHOLD = 1 << 30  # weights above 1 GiB go to an external data file


class ExportError(EngineError):
    """An exported graph failed its check or its parity run; nothing was registered in a manifest."""


def sample_inputs(specs: list[TensorSpec], seed: int = 0, overrides: Optional[dict[str, torch.Tensor]] = None,
                  num_buckets: int = 1000, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Deterministic inputs of the given shapes: frames in [0, 1], a mid-trajectory time bucket, normal noise."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for spec in specs:
        if overrides and spec.name in overrides:
            value = overrides[spec.name].reshape(spec.shape).float()
        elif spec.dtype == "int64":
            value = torch.full(spec.shape, int(0.75 * num_buckets), dtype=torch.long)
        elif spec.name == "frames":
            value = torch.rand(spec.shape, generator=g)
        else:
            value = torch.randn(spec.shape, generator=g)
        out.append(value.to(device))
    return out


def _initializer_bytes(proto: Any) -> int:
    from onnx import numpy_helper

    return sum(numpy_helper.to_array(t).nbytes if not t.raw_data else len(t.raw_data) for t in proto.graph.initializer)


def export_graph(module: nn.Module, name: str, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 args: list[torch.Tensor], directory: Path, external_threshold: int = EXTERNAL_THRESHOLD) -> dict[str, str]:
    """Trace `module` on `args` into <directory>/<name>.onnx (+ .onnx.data for big weights), onnx.checker it;
    returns {file: sha256} of what was written."""
    import onnx

    graph_file, data_file = f"{name}.onnx", f"{name}.onnx.data"
    for stale in (graph_file, data_file):
        (directory / stale).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"export_{name}_", dir=directory) as tmp:
        raw = Path(tmp) / graph_file
        with torch.no_grad(), warnings.catch_warnings():
            # the stages' shape checks are Python conditions on static shapes: constants in the graph, as intended
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(module, tuple(args), str(raw), input_names=[s.name for s in inputs],
                              output_names=[s.name for s in outputs], opset_version=OPSET, dynamo=False)
        proto = onnx.load(str(raw))  # pulls in any per-tensor files the exporter wrote for a > 2 GB graph
        external = _initializer_bytes(proto) > external_threshold
        onnx.save_model(proto, str(directory / graph_file), save_as_external_data=external,
                        all_tensors_to_one_file=True, location=data_file, size_threshold=1024)
    try:
        onnx.checker.check_model(str(directory / graph_file))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{directory / graph_file}: onnx.checker rejects the exported {name} graph: {exc}") from exc
    files = [graph_file] + ([data_file] if external else [])
    return {f: sha256_file(directory / f) for f in files}


def ort_session(path: Path, num_threads: int = 0, providers: Optional[list] = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT warns about every constant it cannot fold for fp16/bf16
    if num_threads > 0:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def parity_run(path: Path, module: nn.Module, inputs: list[TensorSpec], args: list[torch.Tensor],
               precision: str) -> Optional[float]:
    """Max |ONNX Runtime - torch| over the outputs; None when ONNX Runtime has no kernels for this precision here
    (fp16/bf16 on a CPU-only build): the TensorRT build checks those against torch on the GPU instead."""
    try:
        session = ort_session(path)
        got = session.run(None, {s.name: a.cpu().numpy() for s, a in zip(inputs, args)})
    except Exception as exc:  # onnxruntime raises its own exception types (NOT_IMPLEMENTED, INVALID_GRAPH, ...)
        if precision == "fp32":
            raise ExportError(f"{path}: ONNX Runtime cannot run the exported fp32 graph: {exc}") from exc
        log.info("%s: no ONNX Runtime parity run for %s here (%s)", path.name, precision, str(exc).splitlines()[0])
        return None
    with torch.no_grad():
        ref = module(*args)
    refs = ref if isinstance(ref, tuple) else (ref,)
    diff, scale = 0.0, 1.0
    for g, r in zip(got, refs, strict=True):
        r = r.float().cpu().numpy()
        diff = max(diff, float(np.abs(g.astype(np.float32) - r).max()))
        scale = max(scale, float(np.abs(r).max()))
    if not diff <= PARITY_TOLERANCE[precision] * scale:
        raise ExportError(f"{path}: ONNX Runtime differs from torch by {diff:.3g} (output scale {scale:.3g}, "
                          f"tolerance {PARITY_TOLERANCE[precision]} x scale for {precision})")
    return diff


def export_stages(model: nn.Module, directory: str | os.PathLike, precision: str, prompt_length: int,
                  prompt_embeds: Optional[torch.Tensor] = None, parity: bool = True,
                  external_threshold: int = EXTERNAL_THRESHOLD, copy_model: bool = True) -> dict[str, StageEntry]:
    """Export every stage of `model` (cast to `precision`: a copy unless `copy_model` is False) into `directory`;
    `prompt_embeds` (L, C), if given, is the text-projection stage's parity input (a real instruction)."""
    if precision not in TORCH_DTYPES:
        raise ValueError(f"precision must be one of {tuple(TORCH_DTYPES)}, got {precision!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if precision != "fp32":
        model = (copy.deepcopy(model) if copy_model else model).to(TORCH_DTYPES[precision])
    model.eval()
    specs = stage_specs(model, prompt_length)
    modules = stage_modules(model)
    buckets = model.cfg.action.num_timestep_buckets
    device = next(model.parameters()).device
    overrides = {} if prompt_embeds is None else {"prompt_embeds": prompt_embeds}
    entries: dict[str, StageEntry] = {}
    for i, name in enumerate(STAGE_NAMES):
        inputs, outputs = specs[name]
        args = sample_inputs(inputs, seed=i, overrides=overrides, num_buckets=buckets, device=device)
        files = export_graph(modules[name], name, inputs, outputs, args, out, external_threshold)
        diff = parity_run(out / f"{name}.onnx", modules[name], inputs, args, precision) if parity else None
        log.info("exported %s (%s): parity %s", name, precision, "n/a" if diff is None else f"{diff:.2e}")
        entries[name] = StageEntry(f"{name}.onnx", files, inputs, outputs, diff)
    return entries


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def export_engine(checkpoint_dir: str | os.PathLike, kind: str, precision: str, device: str = "cpu",
                  parity: bool = True, external_threshold: int = EXTERNAL_THRESHOLD) -> tuple[Path, EngineManifest]:
    """Export a checkpoint directory's stages for engine `kind` at `precision`; -> (engine dir, manifest)."""
    from dit4dit_ros.model.checkpoint import load_checkpoint

    directory = engine_dir(checkpoint_dir, kind, precision)
    source = source_hashes(checkpoint_dir)  # hashed before loading: the manifest names what was read
    model, cfg, _, cache = load_checkpoint(checkpoint_dir, device=device)
    if cache is not None and len(cache):
        prompt_length = cache.shape[0]
        prompt = cache.get(cache.instructions[0])
    else:
        prompt_length, prompt = cfg.video.prompt_max_length, None
    if directory.exists():
        (directory / "manifest.json").unlink(missing_ok=True)  # an interrupted re-export never looks valid
    entries = export_stages(model, directory, precision, prompt_length, prompt, parity, external_threshold,
                            copy_model=False)
    manifest = EngineManifest(engine=kind, precision=precision, opset=OPSET, source=source, stages=entries,
                              prompt_length=prompt_length, versions=versions())
    manifest.save(directory)
    for leftover in directory.glob("export_*"):  # temporary dirs of an earlier interrupted export
        shutil.rmtree(leftover, ignore_errors=True)
    return directory, manifest
