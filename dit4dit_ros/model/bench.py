"""`dit4dit bench model`: where a policy call spends its time, and how much memory it needs.

Times the torch engine's predict stage by stage (VAE encode, video trunk to the hooked block, each Euler step of
the action DiT) over several calls and reports medians, plus the trunk cost against the depth actually run (the
video branch's `trunk_bench`), because the hooked-block truncation is the main lever on latency.
"""
from __future__ import annotations

import resource
import statistics
import time
import tracemalloc
from typing import Any, Optional

import numpy as np
import torch


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _engine_for_preset(preset: str, device: str, num_steps: Optional[int]):
    from dit4dit_ros.engine.torch_engine import TorchEngine
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    cfg = load_preset(preset)
    torch.manual_seed(0)
    model = DiT4DiT(cfg, load_weights=False)  # random weights: timing does not depend on values
    length = min(cfg.video.prompt_max_length, 512)
    cache = PromptEmbeddingCache("bench-random", {"bench": torch.randn(length, cfg.video.prompt_embed_dim)})
    return TorchEngine.from_model(model, NormalizationStats.for_layout(cfg.layout), cache, device=device,
                                  num_steps=num_steps)


def run_model_bench(preset: str = "tiny", checkpoint: Optional[str] = None, device: str = "cpu", repeats: int = 10,
                    warmup: int = 2, num_steps: Optional[int] = None, scaling: bool = True) -> dict[str, Any]:
    """Mean seconds per stage over `repeats` predictions after `warmup`, peak memory, trunk scaling."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    t0 = time.perf_counter()
    if checkpoint:
        from dit4dit_ros.engine.torch_engine import TorchEngine

        engine = TorchEngine(checkpoint, device=device, num_steps=num_steps)
        if not engine.instructions:
            raise ValueError(f"checkpoint {checkpoint} has no prompt cache: cannot time a prediction")
    else:
        engine = _engine_for_preset(preset, device, num_steps)
    build_s = time.perf_counter() - t0
    instruction = engine.instructions[0]
    rng = np.random.default_rng(0)
    h, w = engine.image_size
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(engine.num_cond_frames)]
    q = engine.codec.stats.state.mean.copy()
    for _ in range(warmup):
        engine.predict(frames, q, instruction)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    tracemalloc.start()
    runs = [engine.predict(frames, q, instruction).timings for _ in range(repeats)]
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stages = list(runs[0])
    # Means, not medians: the stage means add up to the mean total, so the breakdown is consistent.
    med = {k: statistics.fmean(r[k] for r in runs) for k in stages}
    steps = [k for k in stages if k.startswith("action_step_")]
    report: dict[str, Any] = {
        "source": checkpoint or f"preset {preset} (random weights)",
        "device": str(engine.device),
        "torch_threads": torch.get_num_threads(),
        "repeats": repeats,
        "build_s": build_s,
        "image_size": list(engine.image_size),
        "visual_tokens": engine.cfg.video.num_tokens,
        "extract_layer": engine.cfg.video.extract_layer,
        "num_layers": engine.cfg.video.num_layers,
        "euler_steps": len(steps),
        "stages_s": med,
        "action_total_s": sum(med[k] for k in steps) + med.get("action_state", 0.0),
        "predict_hz": 1.0 / med["total"],
        "total_min_s": min(r["total"] for r in runs),
        "total_median_s": statistics.median(r["total"] for r in runs),
        "peak_rss_mib": _rss_peak_mib(),
        "python_alloc_peak_mib": py_peak / 2**20,
    }
    if engine.device.type == "cuda":
        report["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(engine.device) / 2**20
    if scaling:
        from dit4dit_ros.model.trunk_bench import time_truncated_vs_full, trunk_cost_scaling

        video = engine.model.video
        report["truncated_vs_full"] = time_truncated_vs_full(video, repeats=max(1, min(repeats, 5)))
        report["trunk_scaling"] = [r.to_dict() for r in trunk_cost_scaling(video, repeats=max(1, min(repeats, 3)))]
    return report


def format_bench(report: dict[str, Any]) -> str:
    """Human-readable tables."""
    lines = [
        f"model: {report['source']}  device: {report['device']}  threads: {report['torch_threads']}  "
        f"mean of {report['repeats']} predictions",
        f"image {tuple(report['image_size'])}, {report['visual_tokens']} visual tokens, hooked block "
        f"{report['extract_layer']} of {report['num_layers']}, {report['euler_steps']} Euler steps",
        "",
        f"{'stage':<16} {'ms':>10} {'share':>7}",
    ]
    total = report["stages_s"]["total"]
    for k, v in report["stages_s"].items():
        if k == "total":
            continue
        lines.append(f"{k:<16} {v * 1e3:>10.2f} {v / total * 100:>6.1f}%")
    lines.append(f"{'action (all)':<16} {report['action_total_s'] * 1e3:>10.2f} "
                 f"{report['action_total_s'] / total * 100:>6.1f}%")
    lines.append(f"{'total':<16} {total * 1e3:>10.2f}   ({report['predict_hz']:.1f} Hz; min "
                 f"{report['total_min_s'] * 1e3:.2f} ms, median {report['total_median_s'] * 1e3:.2f} ms)")
    lines.append("")
    lines.append(f"peak RSS {report['peak_rss_mib']:.0f} MiB; python allocations peak "
                 f"{report['python_alloc_peak_mib']:.2f} MiB during predict")
    if "cuda_max_allocated_mib" in report:
        lines.append(f"CUDA max allocated {report['cuda_max_allocated_mib']:.0f} MiB")
    if "truncated_vs_full" in report:
        tv = report["truncated_vs_full"]
        lines.append("")
        lines.append(f"video trunk: truncated {tv['truncated_s'] * 1e3:.2f} ms vs full {tv['full_s'] * 1e3:.2f} ms "
                     f"(x{tv['speedup']:.2f}; (extract_layer+1)/N = {tv['expected_block_ratio']:.3f})")
    if "trunk_scaling" in report:
        from dit4dit_ros.model.trunk_bench import LayerTiming, format_scaling

        lines.append("trunk cost vs last executed block:")
        lines.append(format_scaling([LayerTiming(**r) for r in report["trunk_scaling"]]))
    return "\n".join(lines)
