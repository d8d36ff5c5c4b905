"""Check a directory against the LeRobot v2.1 dataset format (and GR00T's modality.json if present).

What is checked (each failure is one `Issue` naming the file and what was expected):
- meta/info.json: required keys and types, codebase_version "v2.1", fps > 0, every feature has dtype/shape/names,
  the five index features, video features with their `info` block, totals consistent with the other files,
  splits "start:end", path templates that format.
- meta/tasks.jsonl, meta/episodes.jsonl: well-formed rows, contiguous indices, tasks referenced exist,
  total_episodes/total_frames/total_tasks match.
- meta/episodes_stats.jsonl: one row per episode, min/max/mean/std/count for every non-video feature and
  every video, shapes matching the feature ((3,1,1) for videos), count = episode length, min <= mean <= max.
- data parquet per episode: exactly the non-video feature columns, dtypes and vector lengths, row count =
  length, episode_index constant, frame_index 0..n-1, global index contiguous across episodes, timestamps =
  frame_index / fps (LeRobot's sync tolerance 1e-4 s), known task_index, finite state/action.
- videos per episode and camera: file exists, codec/size/pix_fmt/fps as declared, at least `length` frames.
- meta/modality.json: state/action slices inside the vectors and non-overlapping, video original_key exists.
"""
from __future__ import annotations

import json
import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from dit4dit_ros.data import lerobot_format as fmt

TIMESTAMP_TOLERANCE_S = 1e-4
_NUMERIC = {"float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"}
_ARROW_NAMES = {"float32": "float", "float64": "double"}


@dataclass(frozen=True)
class Issue:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class _Collector:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[Issue] = []

    def add(self, where: Path | str, message: str) -> None:
        where = str(Path(where).relative_to(self.root)) if isinstance(where, Path) and where.is_relative_to(self.root) else str(where)
        self.issues.append(Issue(where, message))


def validate_dataset(root: Path | str, check_videos: bool = True) -> list[Issue]:
    """All problems found in the dataset at `root` (empty list = valid)."""
    root = Path(root)
    c = _Collector(root)
    if not root.is_dir():
        c.add(str(root), "not a directory")
        return c.issues
    info = _check_info(c, root)
    if info is None:
        return c.issues
    tasks = _check_tasks(c, root, info)
    episodes = _check_episodes(c, root, info, tasks)
    _check_episode_stats(c, root, info, episodes)
    _check_modality(c, root, info)
    global_index = 0
    for ep in sorted(episodes):
        _check_parquet(c, root, info, ep, episodes[ep], tasks, global_index)
        global_index += episodes[ep]
        if check_videos and info.get("video_path"):
            _check_videos(c, root, info, ep, episodes[ep])
    return c.issues


# ---- info.json ----------------------------------------------------------------------------------------
def _check_info(c: _Collector, root: Path) -> dict | None:
    path = root / fmt.INFO_PATH
    if not path.is_file():
        c.add(fmt.INFO_PATH, "missing (every LeRobot dataset has meta/info.json)")
        return None
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        c.add(path, f"not valid JSON: {exc}")
        return None
    if not isinstance(info, dict):
        c.add(path, "must be a JSON object")
        return None
    ok = True
    for key, types in fmt.REQUIRED_INFO_KEYS.items():
        if key not in info:
            c.add(path, f"missing key {key!r}")
            ok = False
        elif not isinstance(info[key], types) or isinstance(info[key], bool):
            c.add(path, f"key {key!r} has type {type(info[key]).__name__}, expected {_type_names(types)}")
            ok = False
    if not ok:
        return None
    if info["codebase_version"] != fmt.CODEBASE_VERSION:
        c.add(path, f"codebase_version is {info['codebase_version']!r}, expected {fmt.CODEBASE_VERSION!r}")
    if info["fps"] <= 0:
        c.add(path, f"fps must be > 0, got {info['fps']}")
        return None
    if info["chunks_size"] <= 0:
        c.add(path, f"chunks_size must be > 0, got {info['chunks_size']}")
        return None
    for template, fields in (("data_path", ("episode_chunk", "episode_index")),
                             ("video_path", ("episode_chunk", "episode_index", "video_key"))):
        value = info[template]
        if value is None:
            continue
        names = {f[1] for f in string.Formatter().parse(value) if f[1]}
        if names != set(fields):
            c.add(path, f"{template} {value!r} must use exactly the fields {sorted(fields)}, uses {sorted(names)}")
            return None
    features = info["features"]
    for key, ft in features.items():
        where = f"{fmt.INFO_PATH} features[{key!r}]"
        if not isinstance(ft, dict) or not {"dtype", "shape", "names"} <= set(ft):
            c.add(where, "must be an object with 'dtype', 'shape' and 'names'")
            ok = False
            continue
        shape = ft["shape"]
        if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
            c.add(where, f"shape must be a non-empty list of positive integers, got {shape!r}")
            ok = False
        names = ft["names"]
        if names is not None and not isinstance(names, (list, dict)):
            c.add(where, f"names must be null, a list or an object, got {type(names).__name__}")
        if isinstance(names, list) and isinstance(shape, list) and len(shape) == 1 and len(names) != shape[0]:
            c.add(where, f"names has {len(names)} entries, shape says {shape[0]}")
        dtype = ft["dtype"]
        if dtype == "video":
            _check_video_feature(c, where, ft, info)
        elif dtype not in _NUMERIC | {"string", "image"}:
            c.add(where, f"unknown dtype {dtype!r}")
    for key, spec in fmt.DEFAULT_FEATURES.items():
        ft = features.get(key)
        if ft is None:
            c.add(path, f"features lacks the index feature {key!r}")
            ok = False
        elif isinstance(ft, dict) and (ft.get("dtype") != spec["dtype"] or ft.get("shape") != spec["shape"]):
            c.add(path, f"features[{key!r}] must be dtype {spec['dtype']} shape {spec['shape']}, got "
                        f"{ft.get('dtype')} {ft.get('shape')}")
    if fmt.video_features(info) and not info["video_path"]:
        c.add(path, "has video features but video_path is null")
        ok = False
    splits = info["splits"]
    for name, value in splits.items():
        parts = str(value).split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > int(parts[1]):
            c.add(path, f"splits[{name!r}] = {value!r}, expected 'start:end' episode indices")
        elif int(parts[1]) > info["total_episodes"]:
            c.add(path, f"splits[{name!r}] = {value!r} goes past total_episodes {info['total_episodes']}")
    n_videos = len(fmt.video_features(info))
    if info["total_videos"] != info["total_episodes"] * n_videos:
        c.add(path, f"total_videos is {info['total_videos']}, expected total_episodes x cameras = "
                    f"{info['total_episodes']} x {n_videos}")
    expected_chunks = math.ceil(info["total_episodes"] / info["chunks_size"]) if info["total_episodes"] else 0
    if info["total_chunks"] != expected_chunks:
        c.add(path, f"total_chunks is {info['total_chunks']}, expected {expected_chunks}")
    return info if ok else None


def _check_video_feature(c: _Collector, where: str, ft: dict, info: dict) -> None:
    shape = ft["shape"]
    names = ft.get("names")
    if not (isinstance(shape, list) and len(shape) == 3):
        c.add(where, f"a video feature needs a 3-D shape, got {shape!r}")
        return
    if names not in (["height", "width", "channels"], ["height", "width", "channel"], ["channels", "height", "width"]):
        c.add(where, f"video names must be ['height', 'width', 'channels'], got {names!r}")
    vinfo = ft.get("info")
    if not isinstance(vinfo, dict):
        c.add(where, "a video feature needs an 'info' object (video.fps, video.codec, ...)")
        return
    missing = [k for k in fmt.VIDEO_INFO_KEYS if k not in vinfo]
    if missing:
        c.add(where, f"info lacks {missing}")
        return
    hw = (shape[0], shape[1]) if names != ["channels", "height", "width"] else (shape[1], shape[2])
    if (vinfo["video.height"], vinfo["video.width"]) != hw:
        c.add(where, f"info video.height/width {vinfo['video.height']}x{vinfo['video.width']} differ from shape {shape}")
    if float(vinfo["video.fps"]) != float(info["fps"]):
        c.add(where, f"info video.fps {vinfo['video.fps']} differs from the dataset fps {info['fps']}")


def _type_names(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


# ---- tasks / episodes / stats -------------------------------------------------------------------------
def _read_rows(c: _Collector, root: Path, rel: str) -> list[dict] | None:
    path = root / rel
    if not path.is_file():
        c.add(rel, "missing")
        return None
    try:
        return fmt.read_jsonl(path)
    except (ValueError, OSError) as exc:
        c.add(rel, str(exc))
        return None


def _check_tasks(c: _Collector, root: Path, info: dict) -> dict[int, str]:
    rows = _read_rows(c, root, fmt.TASKS_PATH)
    tasks: dict[int, str] = {}
    if rows is None:
        return tasks
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("task_index"), int) or not isinstance(row.get("task"), str):
            c.add(f"{fmt.TASKS_PATH}:{n}", f"expected {{'task_index': int, 'task': str}}, got {row}")
            continue
        if row["task_index"] in tasks:
            c.add(f"{fmt.TASKS_PATH}:{n}", f"task_index {row['task_index']} appears twice")
        tasks[row["task_index"]] = row["task"]
    if sorted(tasks) != list(range(len(tasks))):
        c.add(fmt.TASKS_PATH, f"task indices must be 0..{len(tasks) - 1}, got {sorted(tasks)}")
    if len(tasks) != info["total_tasks"]:
        c.add(fmt.INFO_PATH, f"total_tasks is {info['total_tasks']}, {fmt.TASKS_PATH} has {len(tasks)}")
    return tasks


def _check_episodes(c: _Collector, root: Path, info: dict, tasks: dict[int, str]) -> dict[int, int]:
    rows = _read_rows(c, root, fmt.EPISODES_PATH)
    episodes: dict[int, int] = {}
    if rows is None:
        return episodes
    known_tasks = set(tasks.values())
    for n, row in enumerate(rows, 1):
        where = f"{fmt.EPISODES_PATH}:{n}"
        idx, length, ep_tasks = row.get("episode_index"), row.get("length"), row.get("tasks")
        if not isinstance(idx, int) or not isinstance(length, int) or not isinstance(ep_tasks, list):
            c.add(where, f"expected {{'episode_index': int, 'tasks': [str], 'length': int}}, got {row}")
            continue
        if length <= 0:
            c.add(where, f"episode {idx} has length {length}, expected > 0")
        unknown = [t for t in ep_tasks if t not in known_tasks]
        if unknown:
            c.add(where, f"episode {idx} lists tasks {unknown} that are not in {fmt.TASKS_PATH}")
        if idx in episodes:
            c.add(where, f"episode_index {idx} appears twice")
        episodes[idx] = length
    if sorted(episodes) != list(range(len(episodes))):
        c.add(fmt.EPISODES_PATH, f"episode indices must be 0..{len(episodes) - 1}, got {sorted(episodes)[:10]}...")
    if len(episodes) != info["total_episodes"]:
        c.add(fmt.INFO_PATH, f"total_episodes is {info['total_episodes']}, {fmt.EPISODES_PATH} has {len(episodes)}")
    total = sum(episodes.values())
    if total != info["total_frames"]:
        c.add(fmt.INFO_PATH, f"total_frames is {info['total_frames']}, the episode lengths sum to {total}")
    return episodes


def _check_episode_stats(c: _Collector, root: Path, info: dict, episodes: dict[int, int]) -> None:
    rows = _read_rows(c, root, fmt.EPISODES_STATS_PATH)
    if rows is None:
        return
    seen = set()
    for n, row in enumerate(rows, 1):
        where = f"{fmt.EPISODES_STATS_PATH}:{n}"
        idx, stats = row.get("episode_index"), row.get("stats")
        if not isinstance(idx, int) or not isinstance(stats, dict):
            c.add(where, "expected {'episode_index': int, 'stats': {feature: {...}}}")
            continue
        seen.add(idx)
        for key, ft in info["features"].items():
            if ft.get("dtype") in ("string",):
                continue
            if key not in stats:
                c.add(where, f"episode {idx}: no stats for feature {key!r}")
                continue
            _check_feature_stats(c, f"{where} {key}", stats[key], ft, episodes.get(idx))
    missing = sorted(set(episodes) - seen)
    if missing:
        c.add(fmt.EPISODES_STATS_PATH, f"no stats for episodes {missing[:10]}")


def _check_feature_stats(c: _Collector, where: str, st: Any, ft: dict, length: int | None) -> None:
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


# ---- modality.json --------------------------------------------------------------------------------------
def _check_modality(c: _Collector, root: Path, info: dict) -> None:
    path = root / fmt.MODALITY_PATH
    if not path.is_file():
        return  # optional in plain LeRobot; required only by GR00T-style loaders
    try:
        modality = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        c.add(path, f"not valid JSON: {exc}")
        return
    features = info["features"]
    for part, feature in (("state", fmt.STATE_KEY), ("action", fmt.ACTION_KEY)):
        groups = modality.get(part)
        if groups is None:
            continue
        if feature not in features:
            c.add(path, f"{part!r} groups given but info.json has no {feature!r} feature")
            continue
        width = features[feature]["shape"][0]
        spans = []
        for name, entry in groups.items():
            start, end = (entry or {}).get("start"), (entry or {}).get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= width):
                c.add(path, f"{part}.{name}: start/end {start}/{end} must satisfy 0 <= start < end <= {width}")
                continue
            spans.append((start, end, name))
        spans.sort()
        for (s0, e0, n0), (s1, e1, n1) in zip(spans, spans[1:]):
            if s1 < e0:
                c.add(path, f"{part}.{n0} [{s0},{e0}) overlaps {part}.{n1} [{s1},{e1})")
    for name, entry in (modality.get("video") or {}).items():
        key = (entry or {}).get("original_key", fmt.video_feature_key(name))
        if key not in features or features[key].get("dtype") != "video":
            c.add(path, f"video.{name}: original_key {key!r} is not a video feature of info.json")
    for name, entry in (modality.get("annotation") or {}).items():
        key = (entry or {}).get("original_key", f"annotation.{name}")
        if key not in features:
            c.add(path, f"annotation.{name}: column {key!r} is not a feature of info.json")


# ---- per-episode files ----------------------------------------------------------------------------------
def _check_parquet(c: _Collector, root: Path, info: dict, ep: int, length: int, tasks: dict[int, str],
                   global_start: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = fmt.data_file(root, info, ep)
    if not path.is_file():
        c.add(path, f"missing (episode {ep})")
        return
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        c.add(path, f"not a readable parquet file: {exc}")
        return
    features = info["features"]
    expected_cols = {k for k, ft in features.items() if ft.get("dtype") != "video"}
    cols = set(table.column_names)
    if cols != expected_cols:
        missing, extra = sorted(expected_cols - cols), sorted(cols - expected_cols)
        c.add(path, f"columns differ from info.json features: missing {missing}, unexpected {extra}")
    if table.num_rows != length:
        c.add(path, f"has {table.num_rows} rows, {fmt.EPISODES_PATH} says length {length}")
    for key in sorted(expected_cols & cols):
        ft = features[key]
        col = table.column(key)
        dtype, shape = ft["dtype"], ft["shape"]
        if shape == [1]:
            if not _arrow_matches(col.type, dtype):
                c.add(path, f"column {key!r} has type {col.type}, expected {dtype}")
        else:
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
    if not {"episode_index", "frame_index", "index", "timestamp", "task_index"} <= cols:
        return
    n = table.num_rows
    ep_col = table.column("episode_index").to_numpy()
    if np.any(ep_col != ep):
        c.add(path, f"episode_index column must be {ep} on every row, found {sorted(set(ep_col.tolist()))[:5]}")
    frame_index = table.column("frame_index").to_numpy()
    if not np.array_equal(frame_index, np.arange(n)):
        c.add(path, f"frame_index must be 0..{n - 1} in order (first mismatch at row "
                    f"{int(np.flatnonzero(frame_index != np.arange(n))[0])})")
    index = table.column("index").to_numpy()
    if not np.array_equal(index, global_start + np.arange(n)):
        c.add(path, f"index must run {global_start}..{global_start + n - 1} (global, contiguous across episodes), "
                    f"got {int(index[0]) if n else None}..{int(index[-1]) if n else None}")
    ts = table.column("timestamp").to_numpy().astype(np.float64)
    err = np.abs(ts - np.arange(n) / info["fps"])
    if n and err.max() > TIMESTAMP_TOLERANCE_S:
        row = int(np.argmax(err))
        c.add(path, f"timestamp at row {row} is {ts[row]:.6f} s, expected frame_index/fps = {row / info['fps']:.6f} s "
                    f"(tolerance {TIMESTAMP_TOLERANCE_S} s)")
    task_col = set(table.column("task_index").to_numpy().tolist())
    unknown = sorted(task_col - set(tasks))
    if unknown:
        c.add(path, f"task_index values {unknown} are not in {fmt.TASKS_PATH}")


def _arrow_matches(arrow_type, dtype: str) -> bool:
    return str(arrow_type) in (dtype, _ARROW_NAMES.get(dtype, dtype))


def _check_videos(c: _Collector, root: Path, info: dict, ep: int, length: int) -> None:
    from dit4dit_ros.data.video import probe_video

    for key in fmt.video_features(info):
        path = fmt.video_file(root, info, ep, key)
        if not path.is_file():
            c.add(path, f"missing (episode {ep}, camera {key})")
            continue
        try:
            probe = probe_video(path)
        except Exception as exc:  # av raises many error types for broken files
            c.add(path, f"not a readable video: {type(exc).__name__}: {exc}")
            continue
        vinfo = info["features"][key].get("info", {})
        expect = {
            "codec": vinfo.get("video.codec"),
            "height": vinfo.get("video.height"),
            "width": vinfo.get("video.width"),
            "pix_fmt": vinfo.get("video.pix_fmt"),
        }
        for field_name, value in expect.items():
            if value is not None and probe[field_name] != value:
                c.add(path, f"{field_name} is {probe[field_name]!r}, info.json declares {value!r}")
        if probe["fps"] is not None and abs(probe["fps"] - info["fps"]) > 1e-3:
            c.add(path, f"frame rate is {probe['fps']:.3f}, the dataset fps is {info['fps']}")
        if probe["frames"] < length:
            c.add(path, f"has {probe['frames']} frames, the episode has {length}")
