"""`dit4dit export-engine` and `dit4dit bench model` (heavy imports inside the run functions)."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


# ---- export-engine -----------------------------------------------------------------------------------------------
def _export_arguments(p: argparse.ArgumentParser) -> None:
    from dit4dit_ros.engine.manifest import EXPORT_KINDS, PRECISIONS

    p.add_argument("--checkpoint", required=True, help="checkpoint directory (config.json, model.safetensors, ...)")
    p.add_argument("--engine", required=True, choices=EXPORT_KINDS)
    p.add_argument("--precision", choices=PRECISIONS,
                   help="precision of the graphs (default: fp32 for onnxruntime, bf16 for tensorrt)")
    p.add_argument("--device", default="cpu", help="torch device the export traces on (cuda is faster for 2B)")
    p.add_argument("--no-build", action="store_true",
                   help="tensorrt: only export the graphs (the plans are built on first use on the GPU)")


def _export(args: argparse.Namespace) -> int:
    from dit4dit_ros.engine.bench import DEFAULT_PRECISION
    from dit4dit_ros.engine.onnx_export import export_engine

    precision = args.precision or DEFAULT_PRECISION[args.engine]
    directory, manifest = export_engine(args.checkpoint, args.engine, precision, device=args.device)
    print(f"exported {args.engine}-{precision} (opset {manifest.opset}) -> {directory}")
    for name, entry in manifest.stages.items():
        parity = "n/a (checked on the GPU)" if entry.parity_max_abs_diff is None else f"{entry.parity_max_abs_diff:.2e}"
        print(f"  {name:<18} {entry.file:<24} ONNX Runtime vs torch max |diff| {parity}")
    if args.engine == "tensorrt" and not args.no_build:
        _build_plans(args.checkpoint, precision)
    return 0


def _build_plans(checkpoint: str, precision: str) -> None:
    """Build the TensorRT plans now when this machine can (a GPU and tensorrt), so the robot does not at start."""
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError:
        print("tensorrt is not installed here: the plans will be built on first use on the GPU machine")
        return
    if not torch.cuda.is_available():
        print("no CUDA device here: the TensorRT plans will be built on first use on the GPU machine")
        return
    from dit4dit_ros.engine.trt_engine import TrtEngine

    engine = TrtEngine(checkpoint, device="cuda", precision=precision)
    print(f"built the TensorRT plans for {engine.gpu_name} (TensorRT {engine.trt_version})")


# ---- bench model -------------------------------------------------------------------------------------------------
def _bench_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", default="tiny", help="preset to time with random weights (default: tiny)")
    src.add_argument("--checkpoint", help="time a checkpoint directory instead (its exported engines)")
    p.add_argument("--engine", default="torch",
                   help="comma-separated engines, each kind[:precision][+graph] (torch, onnxruntime, tensorrt; "
                        "+graph: tensorrt's action loop as a CUDA graph); the first row is the reference of the "
                        "max |diff| column (default: torch)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per engine (0 = the library's default)")
    p.add_argument("--repeats", type=int, default=10, help="timed predictions per engine")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, help="Euler steps of the action DiT (default: the config's)")
    p.add_argument("--no-scaling", action="store_true", help="skip the trunk cost vs extract_layer table")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _bench(args: argparse.Namespace) -> int:
    from dit4dit_ros.engine.bench import EngineChoice, format_engine_bench, run_engine_bench

    try:
        engines = [EngineChoice.parse(e) for e in args.engine.split(",") if e.strip()]
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    report = run_engine_bench(engines, preset=None if args.checkpoint else args.preset, checkpoint=args.checkpoint,
                              device=args.device, repeats=args.repeats, warmup=args.warmup, threads=args.threads,
                              num_steps=args.steps, scaling=not args.no_scaling)
    if args.json:
        import json

        print(json.dumps(report, indent=1))
    else:
        print(format_engine_bench(report))
    return 0


def register(registry) -> None:
    registry.add_command("export-engine", "export a checkpoint's stages to ONNX for onnxruntime or tensorrt "
                         "(checked, parity-tested, tied to the weights by a manifest)", _export_arguments, _export)
    registry.add_bench("model", "per-stage latency, memory, FLOPs and agreement of each engine on one policy step",
                       _bench_arguments, _bench)
