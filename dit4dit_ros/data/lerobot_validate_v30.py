"""LeRobot v3.0 checks past info.json (see lerobot_validate.py), against the format's published description
(LeRobot's "LeRobotDataset v3.0" documentation and its v2.1 -> v3.0 converter):

- meta/info.json: data_files_size_in_mb and video_files_size_in_mb, per-feature "fps" (where given) = fps.
- meta/tasks.parquet: task_index 0..n-1 with their texts (the pandas index column); total_tasks matches.
- meta/episodes/chunk-*/file-*.parquet: one row per episode with episode_index 0..n-1 in order, tasks known,
  length > 0, dataset_from_index/dataset_to_index contiguous from 0 with to - from = length (total_frames
  matches), data/chunk_index + data/file_index of an existing file, per camera videos/<key>/chunk_index,
  file_index, from_timestamp, to_timestamp, and stats/<feature>/{min,max,mean,std,count} for every feature.
- meta/stats.json: present, one entry per feature.
- data/chunk-*/file-*.parquet: the non-video feature columns (dtypes, lengths, finite), and exactly the rows
  of the episodes that point to the file, in order, each with frame_index 0..n-1, global index from its
  dataset_from_index, timestamp = frame_index / fps, known task_index.
- videos/<key>/chunk-*/file-*.mp4: each episode's [from_timestamp, to_timestamp) starts on a frame, holds
  its length in frames and does not overlap the episode before it in the file; the file holds every frame
  any episode needs, all decoded (or, quick, counted).
"""
from __future__ import annotations

import json
from pathlib import Path

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_meta import read_v30_episode_rows
from dit4dit_ros.data.lerobot_validate_checks import (
    TIMESTAMP_TOLERANCE_S,
    Collector,
    check_columns,
    check_episode_rows,
    check_episode_stats,
    check_video_file,
)

EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index")
VIDEO_COLUMNS = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")


def check_v30(c: Collector, root: Path, info: dict, check_videos: bool, quick: bool) -> None:
    for key in ("data_files_size_in_mb", "video_files_size_in_mb"):
        value = info.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            c.add(fmt.INFO_PATH, f"{key} must be a positive number (v3.0), got {value!r}")
    for key, ft in info["features"].items():
        if ft.get("dtype") != "video" and "fps" in ft and ft["fps"] != info["fps"]:
            c.add(fmt.INFO_PATH, f"features[{key!r}] fps {ft['fps']} differs from the dataset fps {info['fps']}")
    tasks = _check_tasks(c, root, info)
    rows = _check_episodes(c, root, info, tasks)
    _check_stats_file(c, root, info)
    if rows is None:
        return
    _check_data_files(c, root, info, rows, tasks)
    if info.get("video_path"):
        for key in fmt.video_features(info):
            _check_video_files(c, root, info, rows, key, check_videos, quick)


def _check_tasks(c: Collector, root: Path, info: dict) -> dict[int, str]:
    path = root / fmt.V30_TASKS_PATH
    if not path.is_file():
        c.add(fmt.V30_TASKS_PATH, "missing")
        return {}
    try:
        tasks = fmt.read_tasks_parquet(path)
    except ValueError as exc:
        c.add(fmt.V30_TASKS_PATH, str(exc).removeprefix(f"{path}: "))
        return {}
    if sorted(tasks) != list(range(len(tasks))):
        c.add(fmt.V30_TASKS_PATH, f"task indices must be 0..{len(tasks) - 1}, got {sorted(tasks)}")
    if len(tasks) != info["total_tasks"]:
        c.add(fmt.INFO_PATH, f"total_tasks is {info['total_tasks']}, {fmt.V30_TASKS_PATH} has {len(tasks)}")
    return tasks


def _check_episodes(c: Collector, root: Path, info: dict, tasks: dict[int, str]) -> list[dict] | None:
    """The episode rows if they are complete and consistent enough to check the files by, else None."""
    try:
        rows = read_v30_episode_rows(root)
    except (FileNotFoundError, ValueError) as exc:
        c.add(fmt.V30_EPISODES_DIR, str(exc))
        return None
    where = fmt.V30_EPISODES_DIR
    videos = fmt.video_features(info)
    required = list(EPISODE_COLUMNS) + [f"videos/{k}/{col}" for k in videos for col in VIDEO_COLUMNS]
    missing = [col for col in required if any(col not in row or row[col] is None for row in rows)]
    if missing:
        c.add(where, f"episode rows lack columns {missing}")
        return None
    known = set(tasks.values())
    usable = True
    expected_from = 0
    for n, row in enumerate(rows):
        ep, length = row["episode_index"], row["length"]
        label = f"{where} episode {ep}"
        if ep != n:
            c.add(where, f"row {n} has episode_index {ep}; episodes must be 0..{len(rows) - 1} in order")
            usable = False
        if not isinstance(length, int) or length <= 0:
            c.add(label, f"length {length!r}, expected a positive integer")
            usable = False
            continue
        if row["dataset_from_index"] != expected_from:
            c.add(label, f"dataset_from_index is {row['dataset_from_index']}, expected {expected_from} (the "
                         f"previous episode's dataset_to_index)")
            usable = False
        if row["dataset_to_index"] - row["dataset_from_index"] != length:
            c.add(label, f"dataset_to_index - dataset_from_index = {row['dataset_to_index'] - row['dataset_from_index']}, "
                         f"length is {length}")
            usable = False
        expected_from = row["dataset_from_index"] + length
        unknown = [t for t in (row["tasks"] or []) if t not in known]
        if unknown or not row["tasks"]:
            c.add(label, f"tasks {row['tasks']} must be non-empty and in {fmt.V30_TASKS_PATH}")
        check_episode_stats(c, label, f"episode {ep}", info, fmt.unflatten_stats(row), length)
    if len(rows) != info["total_episodes"]:
        c.add(fmt.INFO_PATH, f"total_episodes is {info['total_episodes']}, {where} has {len(rows)} episodes")
    total = sum(row["length"] for row in rows if isinstance(row["length"], int))
    if total != info["total_frames"]:
        c.add(fmt.INFO_PATH, f"total_frames is {info['total_frames']}, the episode lengths sum to {total}")
    return rows if usable else None


def _check_stats_file(c: Collector, root: Path, info: dict) -> None:
    path = root / fmt.STATS_PATH
    if not path.is_file():
        c.add(fmt.STATS_PATH, "missing (v3.0 keeps the dataset statistics here)")
        return
    try:
        stats = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        c.add(fmt.STATS_PATH, f"not valid JSON: {exc}")
        return
    missing = [k for k, ft in info["features"].items() if ft.get("dtype") != "string" and k not in stats]
    if missing:
        c.add(fmt.STATS_PATH, f"no statistics for features {missing}")


def _by_file(rows: list[dict], prefix: str) -> dict[tuple[int, int], list[dict]]:
    files: dict[tuple[int, int], list[dict]] = {}
    for row in rows:
        files.setdefault((int(row[f"{prefix}/chunk_index"]), int(row[f"{prefix}/file_index"])), []).append(row)
    return files


def _check_data_files(c: Collector, root: Path, info: dict, rows: list[dict], tasks: dict[int, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for (chunk, file), episodes in sorted(_by_file(rows, "data").items()):
        path = root / info["data_path"].format(chunk_index=chunk, file_index=file)
        if not path.is_file():
            c.add(path, f"missing (episodes {[r['episode_index'] for r in episodes]})")
            continue
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            c.add(path, f"not a readable parquet file: {exc}")
            continue
        check_columns(c, path, table, info)
        expected_rows = sum(r["length"] for r in episodes)
        if table.num_rows != expected_rows:
            c.add(path, f"has {table.num_rows} rows, its episodes {[r['episode_index'] for r in episodes]} have "
                        f"{expected_rows}")
            continue
        offset = 0
        for row in episodes:
            part = table.slice(offset, row["length"])
            check_episode_rows(c, path, part, info, row["episode_index"], tasks, row["dataset_from_index"], offset)
            offset += row["length"]


def _check_video_files(c: Collector, root: Path, info: dict, rows: list[dict], key: str, open_files: bool,
                       quick: bool) -> None:
    """The episodes' spans in each mp4 (always), then the files themselves (if `open_files`)."""
    fps = float(info["fps"])
    tol = TIMESTAMP_TOLERANCE_S * fps  # in frames
    for (chunk, file), episodes in sorted(_by_file(rows, f"videos/{key}").items()):
        path = root / info["video_path"].format(video_key=key, chunk_index=chunk, file_index=file)
        needed = 0
        previous_end = 0.0
        for row in episodes:
            ep = row["episode_index"]
            start, end = float(row[f"videos/{key}/from_timestamp"]) * fps, float(row[f"videos/{key}/to_timestamp"]) * fps
            where = f"{fmt.V30_EPISODES_DIR} episode {ep}"
            if abs(start - round(start)) > tol:
                c.add(where, f"videos/{key}/from_timestamp {start / fps:.6f} s falls between frames (fps {info['fps']})")
            if end - start < row["length"] - tol:
                c.add(where, f"videos/{key}: [{start / fps:.6f}, {end / fps:.6f}) s holds {end - start:.3f} frames, "
                             f"the episode has {row['length']}")
            if start < previous_end - tol:
                c.add(where, f"videos/{key}/from_timestamp {start / fps:.6f} s overlaps the previous episode in {path.name}")
            previous_end = end
            needed = max(needed, int(round(start)) + row["length"])
        if open_files:
            check_video_file(c, path, info, key, needed, quick, f"episodes {[r['episode_index'] for r in episodes]}")
