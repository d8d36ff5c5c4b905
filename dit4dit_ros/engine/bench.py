"""`dit4dit bench model`: per-stage latency, peak memory, FLOPs and agreement of each engine on one policy step.

Each engine runs in its own child process (spawned), so its peak memory is its own and one engine's threads or
allocator state cannot slow another. All engines get the same frames, joint positions, instruction and initial
noise; the chunk of every row is compared with the first row's (torch fp32 unless told otherwise). With a preset
the weights are random (timing and agreement do not depend on their values) and the exported graphs go to a
temporary directory; with a checkpoint the engines load its exported graphs (`dit4dit export-engine`).
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

DEFAULT_PRECISION = {"torch": "fp32", "onnxruntime": "fp32", "tensorrt": "bf16"}


@dataclass(frozen=True)
class EngineChoice:
    """One row of the table: an engine kind at a precision, `kind[:precision][+graph]` on the command line
    (`+graph`: tensorrt with the action loop replayed as a CUDA graph)."""

    kind: str
    precision: str
    cuda_graph: bool = False

    @classmethod
    def parse(cls, text: str) -> "EngineChoice":
        from dit4dit_ros.engine.factory import ENGINE_KINDS
        from dit4dit_ros.engine.manifest import PRECISIONS

        spec, plus, option = text.strip().partition("+")
        kind, _, precision = spec.partition(":")
        if kind not in ENGINE_KINDS:
            raise ValueError(f"--engine: unknown engine {kind!r}; expected some of {ENGINE_KINDS}[:precision]")
        precision = precision or DEFAULT_PRECISION[kind]
        if precision not in PRECISIONS:
            raise ValueError(f"--engine {text!r}: precision must be one of {PRECISIONS}")
        if plus and (option != "graph" or kind != "tensorrt"):
            raise ValueError(f"--engine {text!r}: the only option is +graph, for tensorrt")
        return cls(kind, precision, bool(plus))

    @property
    def label(self) -> str:
        label = self.kind if self.precision == DEFAULT_PRECISION[self.kind] else f"{self.kind}:{self.precision}"
        return label + ("+graph" if self.cuda_graph else "")


@dataclass
class BenchJob:
    """Everything a child needs to rebuild its engine (picklable)."""

    choice: EngineChoice
    preset: Optional[str]
    checkpoint: Optional[str]
    device: str
    threads: int
    num_steps: Optional[int]
    repeats: int
    warmup: int
    seed: int = 0
    export: Optional[tuple[str, dict]] = None  # preset mode, exported engines: (directory, stage entries as dicts)
    scaling: bool = False


@dataclass
class EngineRow:
    label: str
    stages_ms: dict[str, tuple[float, float]]  # stage -> (p50, p99)
    peak_rss_mib: float
    gpu_mib: Optional[float]
    chunk: np.ndarray
    build_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def random_io(preset: str, seed: int = 0) -> tuple[Any, Any, Any]:
    """(config, joint-limit statistics, one random prompt) of a preset, identical in every process."""
    import torch

    from dit4dit_ros.model.dit4dit import load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    cfg = load_preset(preset)
    g = torch.Generator().manual_seed(seed + 1)
    length = min(cfg.video.prompt_max_length, 512)
    cache = PromptEmbeddingCache("bench-random", {"bench": torch.randn(length, cfg.video.prompt_embed_dim, generator=g)})
    return cfg, NormalizationStats.for_layout(cfg.layout), cache


def random_model(cfg: Any, seed: int = 0) -> Any:
    """The preset's model with random weights drawn from `seed` (the same in every process)."""
    import torch

    from dit4dit_ros.model.dit4dit import DiT4DiT

    torch.manual_seed(seed)
    return DiT4DiT(cfg, load_weights=False).eval()


def _engine(job: BenchJob) -> Any:
    from dit4dit_ros.engine.factory import make_engine

    kind, precision = job.choice.kind, job.choice.precision
    options: dict[str, Any] = dict(seed=job.seed, num_steps=job.num_steps)
    if kind == "tensorrt":
        options["cuda_graph"] = job.choice.cuda_graph
    else:
        options["num_threads"] = job.threads
    if job.checkpoint:
        return make_engine(kind, job.checkpoint, device=job.device, precision=precision, **options)
    cfg, stats, cache = random_io(job.preset, job.seed)
    if kind == "torch":
        import torch

        from dit4dit_ros.engine.torch_engine import TORCH_DTYPES, TorchEngine

        if job.threads > 0:
            torch.set_num_threads(job.threads)
        model = random_model(cfg, job.seed).to(TORCH_DTYPES[precision])
        return TorchEngine.from_model(model, stats, cache, device=job.device, seed=job.seed, num_steps=job.num_steps)
    from dit4dit_ros.engine.manifest import StageEntry

    directory, entries = job.export
    stages = {name: StageEntry.from_dict(d) for name, d in entries.items()}
    if kind == "onnxruntime":
        from dit4dit_ros.engine.ort_engine import OrtEngine

        return OrtEngine.from_export(directory, stages, cfg, stats, cache, device=job.device, **options)
    from dit4dit_ros.engine.trt_engine import TrtEngine

    return TrtEngine.from_export(directory, stages, cfg, stats, cache, device=job.device, **options)


def measure(job: BenchJob) -> EngineRow:
    """Build one engine and time `repeats` predictions after `warmup` (runs in the child process)."""
    gpu = job.device.startswith("cuda")
    if gpu:
        import torch

        torch.cuda.init()
        free0, total = torch.cuda.mem_get_info()  # before the engine: its own use is what this frees
    t0 = time.perf_counter()
    engine = _engine(job)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(job.seed)
    h, w = engine.image_size
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(engine.num_cond_frames)]
    q = engine.codec.stats.state.mean.copy()
    instruction = engine.instructions[0]
    noise = engine.draw_noise()  # the same for every engine: drawn from the same seed
    for _ in range(job.warmup):
        engine.predict(frames, q, instruction, noise=noise)
    runs = [engine.predict(frames, q, instruction, noise=noise) for _ in range(job.repeats)]
    stages = {k: (float(np.percentile([r.timings[k] for r in runs], 50)) * 1e3,
                  float(np.percentile([r.timings[k] for r in runs], 99)) * 1e3) for k in runs[0].timings}
    gpu_mib = None
    if gpu:
        torch.cuda.synchronize()
        free1, _ = torch.cuda.mem_get_info()
        gpu_mib = max(torch.cuda.max_memory_allocated(), free0 - free1) / 2**20
    extra: dict[str, Any] = {}
    if job.scaling and job.choice.kind == "torch":
        from dit4dit_ros.model.trunk_bench import time_truncated_vs_full, trunk_cost_scaling

        video = engine.model.video
        extra["truncated_vs_full"] = time_truncated_vs_full(video, repeats=max(1, min(job.repeats, 5)))
        extra["trunk_scaling"] = [r.to_dict() for r in trunk_cost_scaling(video, repeats=max(1, min(job.repeats, 3)))]
    return EngineRow(job.choice.label, stages, peak_rss_mib(), gpu_mib, runs[0].actions_normalized, build_s, extra)


def peak_rss_mib() -> float:
    """This process's peak resident memory since its program started: VmHWM belongs to the address space, which exec
    replaces (ru_maxrss would also count the parent's memory that the spawned child was forked with)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _in_child(job: BenchJob) -> EngineRow:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(measure, job).result()


def run_engine_bench(engines: list[EngineChoice], preset: Optional[str] = "tiny", checkpoint: Optional[str] = None,
                     device: str = "cpu", repeats: int = 10, warmup: int = 2, threads: int = 0,
                     num_steps: Optional[int] = None, scaling: bool = True, isolate: bool = True) -> dict[str, Any]:
    """One row per engine (see the module docstring); -> a report for `format_engine_bench`."""
    from dit4dit_ros.model.flops import count_policy_flops

    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    if not engines:
        raise ValueError("give at least one engine")
    if checkpoint:
        from dit4dit_ros.model.checkpoint import read_checkpoint_meta

        cfg = read_checkpoint_meta(checkpoint)[0]
    else:
        cfg, _, cache = random_io(preset)
    model = None  # built only when a graph must be exported from it
    rows: list[EngineRow] = []
    with tempfile.TemporaryDirectory(prefix="bench_engines_") as tmp:
        exports: dict[tuple[str, str], tuple[str, dict]] = {}
        if not checkpoint:  # export every graph first, then free the model: the children measure alone
            for choice in engines:
                key = (choice.kind, choice.precision)
                if choice.kind == "torch" or key in exports:
                    continue
                from dit4dit_ros.engine.onnx_export import export_stages

                model = model if model is not None else random_model(cfg).to(device)
                directory = f"{tmp}/{choice.kind}-{choice.precision}"
                entries = export_stages(model, directory, choice.precision, cache.shape[0],
                                        cache.get("bench").to(device), parity=choice.kind == "onnxruntime")
                exports[key] = (directory, {k: v.to_dict() for k, v in entries.items()})
            del model
            if device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
        for choice in engines:
            job = BenchJob(choice, preset, checkpoint, device, threads, num_steps, repeats, warmup,
                           export=exports.get((choice.kind, choice.precision)), scaling=scaling and not rows)
            rows.append(_in_child(job) if isolate else measure(job))
    reference = rows[0].chunk
    flops = count_policy_flops(cfg, num_steps=num_steps, text_encoder=False).project_total
    return {
        "source": checkpoint or f"preset {preset} (random weights)", "device": device, "threads": threads,
        "repeats": repeats, "image_size": list(cfg.video.image_size), "visual_tokens": cfg.video.num_tokens,
        "extract_layer": cfg.video.extract_layer, "num_layers": cfg.video.num_layers,
        "euler_steps": num_steps or cfg.action.num_inference_steps, "step_tflops": flops / 1e12,
        "rows": [{"engine": r.label, "stages_ms": r.stages_ms, "peak_rss_mib": r.peak_rss_mib, "gpu_mib": r.gpu_mib,
                  "max_abs_diff": float(np.abs(r.chunk - reference).max()), "build_s": r.build_s, **r.extra}
                 for r in rows],
    }


def format_engine_bench(report: dict[str, Any]) -> str:
    rows = report["rows"]
    stages = list(dict.fromkeys(k for r in rows for k in r["stages_ms"] if k != "total")) + ["total"]
    width = max(8, *(len(s) for s in stages))
    lines = [
        f"model: {report['source']}  device: {report['device']}  threads: {report['threads'] or 'default'}  "
        f"{report['repeats']} timed predictions per engine (ms p50/p99)",
        f"image {tuple(report['image_size'])}, {report['visual_tokens']} visual tokens, hooked block "
        f"{report['extract_layer']} of {report['num_layers']}, {report['euler_steps']} Euler steps, "
        f"{report['step_tflops'] * 1e3:.3f} GFLOPs per step",
        "",
        f"{'engine':<16}" + "".join(f"{s:>{width + 2}}" for s in stages)
        + f"{'peak RSS MiB':>14}{'GPU MiB':>9}{'GFLOPs':>9}{'max|diff| vs ' + rows[0]['engine']:>22}",
    ]
    for r in rows:
        cells = "".join(f"{'%.2f/%.2f' % r['stages_ms'][s] if s in r['stages_ms'] else '-':>{width + 2}}" for s in stages)
        gpu = f"{r['gpu_mib']:.0f}" if r["gpu_mib"] is not None else "-"
        lines.append(f"{r['engine']:<16}{cells}{r['peak_rss_mib']:>14.0f}{gpu:>9}{report['step_tflops'] * 1e3:>9.3f}"
                     f"{r['max_abs_diff']:>22.2e}")
    base = rows[0]["stages_ms"]["total"][0]
    for r in rows[1:]:
        lines.append(f"{r['engine']}: {base / r['stages_ms']['total'][0]:.2f}x the speed of {rows[0]['engine']} "
                     f"(p50 total); {1e3 / r['stages_ms']['total'][0]:.1f} policy steps/s")
    first = rows[0]
    if "truncated_vs_full" in first:
        from dit4dit_ros.model.trunk_bench import LayerTiming, format_scaling

        tv = first["truncated_vs_full"]
        lines += ["", f"video trunk ({first['engine']}): truncated {tv['truncated_s'] * 1e3:.2f} ms vs full "
                      f"{tv['full_s'] * 1e3:.2f} ms (x{tv['speedup']:.2f}; (extract_layer+1)/N = "
                      f"{tv['expected_block_ratio']:.3f})", "trunk cost vs last executed block:",
                  format_scaling([LayerTiming(**x) for x in first["trunk_scaling"]])]
    return "\n".join(lines)
