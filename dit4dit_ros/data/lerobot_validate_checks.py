"""Checks the LeRobot v2.1 and v3.0 validators share: issue collection, episode statistics, the rows of one
episode in a parquet table, and the frames of one episode in an mp4 (decoded, or probed with `quick`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dit4dit_ros.data import lerobot_format as fmt

TIMESTAMP_TOLERANCE_S = 1e-4  # LeRobot's default sync tolerance
_ARROW_NAMES = {"float32": "float", "float64": "double"}
INDEX_COLUMNS = ("episode_index", "frame_index", "index", "timestamp", "task_index")


@dataclass(frozen=True)
class Issue:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class Collector:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[Issue] = []
        self.notes: list[str] = []  # what was not checked (e.g. videos not decoded)

    def add(self, where: Path | str, message: str) -> None:
        where = str(Path(where).relative_to(self.root)) if isinstance(where, Path) and where.is_relative_to(self.root) else str(where)
        self.issues.append(Issue(where, message))


def check_feature_stats(c: Collector, where: str, st: Any, ft: dict, length: int | None) -> None:
    """One feature's stats of one episode: keys, shapes, count = length (non-video), min <= mean <= max."""
    if not isinstance(st, dict) or not set(fmt.STATS_KEYS) <= set(st):
        c.add(where, f"needs keys {list(fmt.STATS_KEYS)}, got {sorted(st) if isinstance(st, dict) else st!r}")
        return
    try:
        arrays = {k: np.asarray(st[k], dtype=np.float64) for k in fmt.STATS_KEYS}
    except (TypeError, ValueError):
        c.add(where, "stats values must be (nested) lists of numbers")
        return
    expected = (3, 1, 1) if ft["dtype"] in ("video", "image") else tuple(ft["shape"])
    for k in ("min", "max", "mean", "std"):
        if arrays[k].shape != expected:
            c.add(where, f"{k} has shape {arrays[k].shape}, expected {expected}")
            return
    if arrays["count"].shape != (1,):
        c.add(where, f"count must be a 1-element list, got {st['count']!r}")
        return
    if ft["dtype"] not in ("video", "image") and length is not None and int(arrays["count"][0]) != length:
        c.add(where, f"count {int(arrays['count'][0])} differs from the episode length {length}")
    tol = 1e-6 * (1 + np.abs(arrays["mean"]))
    if np.any(arrays["min"] > arrays["mean"] + tol) or np.any(arrays["mean"] > arrays["max"] + tol):
        c.add(where, "min <= mean <= max does not hold")
    if np.any(arrays["std"] < 0):
        c.add(where, "negative std")


def check_episode_stats(c: Collector, where: str, what: str, info: dict, stats: dict, length: int | None) -> None:
    """Every feature's stats of one episode (`what` names it in messages, e.g. "episode 3")."""
    for key, ft in info["features"].items():
        if ft.get("dtype") == "string":
            continue
        if key not in stats:
            c.add(where, f"{what}: no stats for feature {key!r}")
            continue
        check_feature_stats(c, f"{where} {key}", stats[key], ft, length)


def check_columns(c: Collector, path: Path, table: pa.Table, info: dict) -> set[str]:
    """The table's columns against info.json's non-video features (names, dtypes, vector lengths, finite)."""
    features = info["features"]
    expected_cols = {k for k, ft in features.items() if ft.get("dtype") != "video"}
    cols = set(table.column_names)
    if cols != expected_cols:
        missing, extra = sorted(expected_cols - cols), sorted(cols - expected_cols)
        c.add(path, f"columns differ from info.json features: missing {missing}, unexpected {extra}")
    for key in sorted(expected_cols & cols):
        ft = features[key]
        col = table.column(key)
        dtype, shape = ft["dtype"], ft["shape"]
        if shape == [1]:
            if not _arrow_matches(col.type, dtype):
                c.add(path, f"column {key!r} has type {col.type}, expected {dtype}")
            continue
        if not (pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or pa.types.is_large_list(col.type)):
            c.add(path, f"column {key!r} has type {col.type}, expected a list of {dtype} of length {shape[0]}")
            continue
        if not _arrow_matches(col.type.value_type, dtype):
            c.add(path, f"column {key!r} holds {col.type.value_type}, expected {dtype}")
        lengths = np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False))
        bad = np.flatnonzero(lengths != shape[0])
        if bad.size:
            c.add(path, f"column {key!r}: row {int(bad[0])} has {int(lengths[bad[0]])} values, expected {shape[0]}")
            continue
        values = np.asarray(pc.list_flatten(col).to_numpy(zero_copy_only=False), dtype=np.float64)
        if not np.all(np.isfinite(values)):
            c.add(path, f"column {key!r} contains NaN or infinite values")
    return cols


def check_episode_rows(c: Collector, path: Path, rows: pa.Table, info: dict, ep: int, tasks: dict[int, str],
                       global_start: int, row_offset: int = 0) -> None:
    """The index columns of one episode's rows (rows `row_offset`.. of the file): episode_index, frame_index
    0..n-1, global index contiguous from `global_start`, timestamp = frame_index / fps, known task_index."""
    if not set(INDEX_COLUMNS) <= set(rows.column_names):
        return
    n = rows.num_rows
    ep_col = rows.column("episode_index").to_numpy()
    if np.any(ep_col != ep):
        c.add(path, f"episode_index column must be {ep} on every row, found {sorted(set(ep_col.tolist()))[:5]}")
    frame_index = rows.column("frame_index").to_numpy()
    if not np.array_equal(frame_index, np.arange(n)):
        c.add(path, f"episode {ep}: frame_index must be 0..{n - 1} in order (first mismatch at row "
                    f"{row_offset + int(np.flatnonzero(frame_index != np.arange(n))[0])})")
    index = rows.column("index").to_numpy()
    if not np.array_equal(index, global_start + np.arange(n)):
        c.add(path, f"episode {ep}: index must run {global_start}..{global_start + n - 1} (global, contiguous across "
                    f"episodes), got {int(index[0]) if n else None}..{int(index[-1]) if n else None}")
    ts = rows.column("timestamp").to_numpy().astype(np.float64)
    err = np.abs(ts - np.arange(n) / info["fps"])
    if n and err.max() > TIMESTAMP_TOLERANCE_S:
        row = int(np.argmax(err))
        c.add(path, f"timestamp at row {row_offset + row} is {ts[row]:.6f} s, expected frame_index/fps = "
                    f"{row / info['fps']:.6f} s (tolerance {TIMESTAMP_TOLERANCE_S} s)")
    unknown = sorted(set(rows.column("task_index").to_numpy().tolist()) - set(tasks))
    if unknown:
        c.add(path, f"task_index values {unknown} are not in the tasks table")


def _arrow_matches(arrow_type: Any, dtype: str) -> bool:
    return str(arrow_type) in (dtype, _ARROW_NAMES.get(dtype, dtype))


def check_video_file(c: Collector, path: Path, info: dict, key: str, frames_needed: int, quick: bool,
                     what: str) -> None:
    """The mp4 of camera `key`: declared codec/size/pix_fmt/fps, and at least `frames_needed` frames, every
    one decoded without a decoder error (or only counted from the packets with `quick`)."""
    from dit4dit_ros.data.video import decode_all, probe_video

    if not path.is_file():
        c.add(path, f"missing ({what}, camera {key})")
        return
    try:
        probe = probe_video(path)
    except Exception as exc:  # av raises many error types for broken files
        c.add(path, f"not a readable video: {type(exc).__name__}: {exc}")
        return
    vinfo = info["features"][key].get("info", {})
    expect = {"codec": vinfo.get("video.codec"), "height": vinfo.get("video.height"),
              "width": vinfo.get("video.width"), "pix_fmt": vinfo.get("video.pix_fmt")}
    for field_name, value in expect.items():
        if value is not None and probe[field_name] != value:
            c.add(path, f"{field_name} is {probe[field_name]!r}, info.json declares {value!r}")
    if probe["fps"] is not None and abs(probe["fps"] - info["fps"]) > 1e-3:
        c.add(path, f"frame rate is {probe['fps']:.3f}, the dataset fps is {info['fps']}")
    if quick:
        if probe["frames"] < frames_needed:
            c.add(path, f"has {probe['frames']} frames (packets), {what} needs {frames_needed}")
        return
    try:
        report = decode_all(path, float(info["fps"]))
    except Exception as exc:
        c.add(path, f"cannot be decoded: {type(exc).__name__}: {exc}")
        return
    if report.errors:
        c.add(path, f"decoding failed after {report.frames} frames: {'; '.join(report.errors)}")
    elif report.frames < frames_needed:
        c.add(path, f"decodes to {report.frames} frames, {what} needs {frames_needed}")
    if report.index_problem:
        c.add(path, f"frames are not one per 1/fps: {report.index_problem}")
