"""`dit4dit eval --report DIR`: an HTML page a person reads after an evaluation.

DIR/index.html: the run (checkpoint, task, mode, instruction), success with its Wilson 95 % interval, a per-seed
table (verdict, time of success, min/final distance, policy start, episode time, inference, video link),
distance-over-time plots (DIR/distance.png), the inference latency histogram (DIR/latency.png), links to the
rollout videos and the Rerun recording. DIR/result.json holds the same numbers for tools. Plots use matplotlib's
Agg backend (no display needed).
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

from dit4dit_ros.evaluation.results import EvalResult

SUCCESS_DISTANCE = {"reach": 0.06}  # the task's success threshold drawn on the distance plot (m)


def _link(target: str | None, directory: Path, text: str) -> str:
    if not target:
        return ""
    rel = os.path.relpath(Path(target).resolve(), directory.resolve())
    return f'<a href="{html.escape(rel)}">{html.escape(text)}</a>'


def plot_distances(result: EvalResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    for e in result.episodes:
        if not e.distance_trace:
            continue
        t, d = np.array(e.distance_trace, dtype=float).T
        ax.plot(t, d, lw=1.2, color="tab:green" if e.success else "tab:red", alpha=0.8, label=None)
    threshold = SUCCESS_DISTANCE.get(result.task)
    if threshold:
        ax.axhline(threshold, color="k", ls="--", lw=1, label=f"success distance {threshold:.2f} m")
        ax.legend(loc="upper right")
    ax.set_xlabel("simulation time since reset [s]")
    ax.set_ylabel("distance to target [m]")
    ax.set_title(f"{result.task} ({result.mode}): distance over time, green = success, red = failure")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_latency(result: EvalResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = np.array([x for e in result.episodes for x in e.inference_trace], dtype=float) * 1e3
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    if latencies.size:
        ax.hist(latencies, bins=min(40, max(5, latencies.size // 3)), color="tab:blue")
        p50, p99 = np.percentile(latencies, [50, 99])
        ax.axvline(p50, color="k", lw=1, label=f"p50 {p50:.0f} ms")
        ax.axvline(p99, color="k", ls="--", lw=1, label=f"p99 {p99:.0f} ms")
        ax.legend()
    ax.set_xlabel("inference time per chunk [ms]")
    ax.set_ylabel("chunks")
    ax.set_title(f"policy inference latency ({latencies.size} chunks)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(result: EvalResult, directory: Path | str) -> Path:
    """Write DIR/index.html (+ plots, result.json); returns the page's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plot_distances(result, directory / "distance.png")
    plot_latency(result, directory / "latency.png")
    (directory / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
    lo, hi = result.interval
    n = len(result.episodes)
    rows = []
    for e in result.episodes:
        fmt = lambda v, f="{:.3f}": "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f.format(v)  # noqa: E731
        rows.append(
            f"<tr class={'ok' if e.success else 'fail'}><td>{e.seed}</td><td>{'success' if e.success else 'failure'}</td>"
            f"<td>{fmt(e.first_success_time, '{:.2f}')}</td><td>{fmt(e.min_distance)}</td><td>{fmt(e.final_distance)}</td>"
            f"<td>{fmt(e.policy_start_time, '{:.2f}')}</td><td>{fmt(e.episode_time, '{:.2f}')}</td>"
            f"<td>{fmt(e.inference_seconds * 1e3 if e.inference_seconds == e.inference_seconds else None, '{:.0f}')}</td>"
            f"<td>{_link(e.video, directory, 'video') or '-'}</td></tr>")
    recording = _link(result.recording, directory, Path(result.recording).name) if result.recording else "none"
    title = f"dit4dit eval: {html.escape(result.task)} ({html.escape(result.mode)}{', blind' if result.blind else ''})"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} tr.ok td:nth-child(2){{color:#080}}
tr.fail td:nth-child(2){{color:#b00}} .big{{font-size:1.4em}}</style></head><body>
<h1>{title}</h1>
<p>checkpoint <code>{html.escape(result.checkpoint)}</code><br>instruction "{html.escape(result.instruction)}"<br>
{n} episodes, seeds {result.episodes[0].seed if n else '-'}..{result.episodes[-1].seed if n else '-'},
{result.wall_seconds:.0f} s wall time</p>
<p class="big">success {result.successes}/{n} = {result.rate:.2f} (Wilson 95% CI {lo:.2f}-{hi:.2f})</p>
<p>final-frame success {sum(e.final_success for e in result.episodes)}/{n}; Rerun recording: {recording}</p>
<h2>Episodes</h2>
<table><tr><th>seed</th><th>verdict</th><th>success at [s]</th><th>min distance [m]</th><th>final distance [m]</th>
<th>policy start [s]</th><th>episode time [s]</th><th>inference [ms/chunk]</th><th>video</th></tr>
{chr(10).join(rows)}
</table>
<h2>Distance over time</h2><img src="distance.png" alt="distance over time per episode">
<h2>Inference latency</h2><img src="latency.png" alt="inference latency histogram">
<p><a href="result.json">result.json</a></p>
</body></html>
"""
    path = directory / "index.html"
    path.write_text(page)
    return path
