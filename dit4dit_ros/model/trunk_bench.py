"""Timing of the video trunk, for `dit4dit bench model` (the figures, not pass/fail tests).

Two questions: how much does stopping after the hooked block save against the official full trunk (all blocks +
output head), and does the cost scale with (extract_layer + 1) / num_layers? The fixed per-call work (patch
embedding, RoPE, time embedding, the text cross-attention projection) is timed separately because it does not
scale with depth.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence, Union

import torch

from dit4dit_ros.model.cosmos_trunk import output_head, prepare_trunk_inputs, run_blocks
from dit4dit_ros.model.video_backbone import VideoBackbone


@dataclass
class TrunkInputsForBench:
    latents: torch.Tensor
    timestep: torch.Tensor
    prompt_embeds: torch.Tensor
    condition_mask: torch.Tensor
    padding_mask: torch.Tensor


@dataclass
class LayerTiming:
    last_block: int
    seconds: float  # median wall time of prepare + blocks 0..last_block
    block_seconds: float  # seconds minus the fixed preparation time
    measured_ratio: float  # block_seconds / block_seconds of the full depth
    expected_ratio: float  # (last_block + 1) / num_layers

    def to_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn` over `repeats` runs after `warmup` runs (bounded by the arguments)."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn()
        _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_inputs(backbone: VideoBackbone, batch: int = 1, prompt_len: Optional[int] = None, seed: int = 0) -> TrunkInputsForBench:
    """Random inputs with the shapes of one policy call (conditioning latents + noise at tau_f)."""
    cfg = backbone.cfg
    device = backbone.latents_mean.device
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.latent_size
    latents = torch.randn(batch, cfg.latent_channels, cfg.num_latent_frames, h, w, generator=g).to(device)
    prompt = torch.randn(batch, prompt_len or cfg.prompt_max_length, cfg.prompt_embed_dim, generator=g).to(device)
    indicator, cond_mask, padding = backbone._masks(batch, device)
    timestep = backbone._timestep(indicator, torch.full((batch,), cfg.tau_f, device=device))
    return TrunkInputsForBench(latents, timestep, prompt, cond_mask, padding)


@torch.no_grad()
def time_truncated_vs_full(
    backbone: VideoBackbone, batch: int = 1, repeats: int = 5, warmup: int = 1, prompt_len: Optional[int] = None
) -> dict[str, float]:
    """Seconds of the truncated trunk (hooked block, what we run) vs the full trunk + output head (official)."""
    x = bench_inputs(backbone, batch, prompt_len)
    device = x.latents.device
    t = backbone.transformer
    args = (x.latents, x.timestep, x.prompt_embeds, x.condition_mask, x.padding_mask)

    def truncated() -> None:
        backbone.trunk_features(*args)

    def full() -> None:
        inputs = prepare_trunk_inputs(t, *args)
        output_head(t, run_blocks(t, inputs, len(t.transformer_blocks) - 1), inputs)

    s_trunc = median_seconds(truncated, device, repeats, warmup)
    s_full = median_seconds(full, device, repeats, warmup)
    n = len(t.transformer_blocks)
    return {
        "truncated_s": s_trunc,
        "full_s": s_full,
        "speedup": s_full / s_trunc,
        "extract_layer": backbone.cfg.extract_layer,
        "num_layers": n,
        "expected_block_ratio": (backbone.cfg.extract_layer + 1) / n,
    }


@torch.no_grad()
def trunk_cost_scaling(
    preset_or_backbone: Union[str, VideoBackbone],
    layers: Optional[Sequence[int]] = None,
    batch: int = 1,
    repeats: int = 3,
    warmup: int = 1,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
    prompt_len: Optional[int] = None,
) -> list[LayerTiming]:
    """Trunk time vs the last executed block (random weights are enough for timing; nothing is loaded).

    `layers` defaults to about five depths spread over the trunk, always including the last block.
    """
    if isinstance(preset_or_backbone, VideoBackbone):
        backbone = preset_or_backbone
    else:
        from dit4dit_ros.model.dit4dit import load_preset

        backbone = VideoBackbone(load_preset(preset_or_backbone).video, load_weights=False)
        backbone = backbone.to(device=device, dtype=dtype).eval()
    t = backbone.transformer
    n = len(t.transformer_blocks)
    chosen = sorted(set(layers if layers is not None else [round(i * (n - 1) / 4) for i in range(5)]) | {n - 1})
    if any(not 0 <= l < n for l in chosen):
        raise ValueError(f"layers must be in [0, {n - 1}], got {list(layers or [])}")
    x = bench_inputs(backbone, batch, prompt_len)
    dev = x.latents.device
    args = (x.latents, x.timestep, x.prompt_embeds, x.condition_mask, x.padding_mask)
    prepare_s = median_seconds(lambda: prepare_trunk_inputs(t, *args), dev, repeats, warmup)
    raw = {}
    for last in chosen:
        raw[last] = median_seconds(lambda: run_blocks(t, prepare_trunk_inputs(t, *args), last), dev, repeats, warmup)
    full_blocks = raw[n - 1] - prepare_s  # <= 0 only when timing noise swamps a tiny model
    return [
        LayerTiming(
            last_block=last,
            seconds=raw[last],
            block_seconds=raw[last] - prepare_s,
            measured_ratio=(raw[last] - prepare_s) / full_blocks if full_blocks > 0 else float("nan"),
            expected_ratio=(last + 1) / n,
        )
        for last in chosen
    ]


def format_scaling(rows: Sequence[LayerTiming]) -> str:
    """A small table for CLI output."""
    lines = [f"{'last_block':>10} {'seconds':>10} {'blocks_s':>10} {'measured':>9} {'(l+1)/N':>8}"]
    for r in rows:
        lines.append(
            f"{r.last_block:>10d} {r.seconds:>10.4f} {r.block_seconds:>10.4f} {r.measured_ratio:>9.3f} {r.expected_ratio:>8.3f}"
        )
    return "\n".join(lines)
