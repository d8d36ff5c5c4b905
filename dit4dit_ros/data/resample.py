"""Put streams of different rates on one frame grid (the dataset's fps) from their timestamps.

- state: linear interpolation between the two samples around each frame time (a sampled continuous signal);
- action: the last command sent at or before the frame time (a command holds until the next one);
- image: the frame captured nearest to the frame time.
The grid covers only the time where every stream has data: [max of first times, min of last times].
"""
from __future__ import annotations

import numpy as np

from dit4dit_ros.data.bag_reader import TimeSeries


def frame_grid(start_ns: int, end_ns: int, fps: float) -> np.ndarray:
    """Frame times start, start + 1/fps, ... <= end (int64 ns)."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if end_ns < start_ns:
        return np.zeros(0, np.int64)
    n = int(np.floor((end_ns - start_ns) * fps / 1e9 + 1e-9)) + 1
    return start_ns + np.round(np.arange(n) * (1e9 / fps)).astype(np.int64)


def interpolate(series: TimeSeries, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column at `grid` (clamped to the end samples)."""
    if len(series) == 0:
        raise ValueError("cannot interpolate an empty series")
    t = (series.times_ns - series.times_ns[0]).astype(np.float64)
    g = (grid - series.times_ns[0]).astype(np.float64)
    return np.stack([np.interp(g, t, series.values[:, j]) for j in range(series.values.shape[1])], axis=1)


def hold_last(series: TimeSeries, grid: np.ndarray) -> np.ndarray:
    """Value of the last sample at or before each grid time (grid times before the first sample get it)."""
    if len(series) == 0:
        raise ValueError("cannot sample an empty series")
    idx = np.searchsorted(series.times_ns, grid, side="right") - 1
    return series.values[np.clip(idx, 0, len(series) - 1)]


def nearest(times_ns: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the time nearest to each grid time (times sorted ascending)."""
    if times_ns.size == 0:
        raise ValueError("cannot pick from an empty time list")
    right = np.clip(np.searchsorted(times_ns, grid, side="left"), 0, times_ns.size - 1)
    left = np.clip(right - 1, 0, times_ns.size - 1)
    pick_left = np.abs(grid - times_ns[left]) <= np.abs(times_ns[right] - grid)
    return np.where(pick_left, left, right)


def max_gap_s(times_ns: np.ndarray, start_ns: int, end_ns: int) -> float:
    """Largest interval without a sample inside [start, end] (seconds): a dropout detector."""
    inside = times_ns[(times_ns >= start_ns) & (times_ns <= end_ns)]
    edges = np.concatenate([[start_ns], inside, [end_ns]])
    return float(np.max(np.diff(edges)) * 1e-9) if edges.size > 1 else 0.0
