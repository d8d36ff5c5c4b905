"""LeRobot v2.1 checks past info.json (see lerobot_validate.py): the JSON-lines metadata and one parquet and
one mp4 per episode.

- meta/tasks.jsonl, meta/episodes.jsonl: well-formed rows, contiguous indices, tasks referenced exist,
  total_episodes/total_frames/total_tasks match.
- meta/episodes_stats.jsonl: one row per episode, min/max/mean/std/count for every non-video feature and
  every video, shapes matching the feature ((3,1,1) for videos), count = episode length, min <= mean <= max.
- data parquet per episode: exactly the non-video feature columns, dtypes and vector lengths, row count =
  length, episode_index constant, frame_index 0..n-1, global index contiguous across episodes, timestamps =
  frame_index / fps, known task_index, finite state/action.
- videos per episode and camera: declared codec/size/pix_fmt/fps, every frame decodes (or, quick, counted).
"""
from __future__ import annotations

import math
from pathlib import Path

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_validate_checks import (
    Collector,
    check_columns,
    check_episode_rows,
    check_episode_stats,
    check_video_file,
)


def check_v21(c: Collector, root: Path, info: dict, check_videos: bool, quick: bool) -> None:
    n_videos = len(fmt.video_features(info))
    for key in ("total_videos", "total_chunks"):
        if not isinstance(info.get(key), int):
            c.add(fmt.INFO_PATH, f"missing integer key {key!r} (v2.1)")
            return
    if info["total_videos"] != info["total_episodes"] * n_videos:
        c.add(fmt.INFO_PATH, f"total_videos is {info['total_videos']}, expected total_episodes x cameras = "
                             f"{info['total_episodes']} x {n_videos}")
    expected_chunks = math.ceil(info["total_episodes"] / info["chunks_size"]) if info["total_episodes"] else 0
    if info["total_chunks"] != expected_chunks:
        c.add(fmt.INFO_PATH, f"total_chunks is {info['total_chunks']}, expected {expected_chunks}")
    tasks = _check_tasks(c, root, info)
    episodes = _check_episodes(c, root, info, tasks)
    _check_episode_stats(c, root, info, episodes)
    global_index = 0
    for ep in sorted(episodes):
        _check_parquet(c, root, info, ep, episodes[ep], tasks, global_index)
        global_index += episodes[ep]
        if check_videos and info.get("video_path"):
            for key in fmt.video_features(info):
                check_video_file(c, fmt.video_file(root, info, ep, key), info, key, episodes[ep], quick, f"episode {ep}")


def _read_rows(c: Collector, root: Path, rel: str) -> list[dict] | None:
    path = root / rel
    if not path.is_file():
        c.add(rel, "missing")
        return None
    try:
        return fmt.read_jsonl(path)
    except (ValueError, OSError) as exc:
        c.add(rel, str(exc))
        return None


def _check_tasks(c: Collector, root: Path, info: dict) -> dict[int, str]:
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


def _check_episodes(c: Collector, root: Path, info: dict, tasks: dict[int, str]) -> dict[int, int]:
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


def _check_episode_stats(c: Collector, root: Path, info: dict, episodes: dict[int, int]) -> None:
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
        check_episode_stats(c, where, f"episode {idx}", info, stats, episodes.get(idx))
    missing = sorted(set(episodes) - seen)
    if missing:
        c.add(fmt.EPISODES_STATS_PATH, f"no stats for episodes {missing[:10]}")


def _check_parquet(c: Collector, root: Path, info: dict, ep: int, length: int, tasks: dict[int, str],
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
    check_columns(c, path, table, info)
    if table.num_rows != length:
        c.add(path, f"has {table.num_rows} rows, {fmt.EPISODES_PATH} says length {length}")
    check_episode_rows(c, path, table, info, ep, tasks, global_start)
