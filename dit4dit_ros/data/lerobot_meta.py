"""A LeRobot dataset's metadata (v2.0, v2.1 or v3.0) as one format-independent episode table.

The training reader needs, per episode: its length, its task, the parquet file and rows that hold its
frames, and for each camera the mp4 file and the frame in it where the episode starts. v2.x keeps one file
per episode (rows = the whole file, first frame 0); v3.0 shares files between episodes and says where each
episode lies in meta/episodes/*.parquet (dataset_from_index, videos/<key>/from_timestamp). Problems raise
ValueError/FileNotFoundError naming the file; the validator (lerobot_validate*.py) lists them all instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_ros.data import lerobot_format as fmt

READABLE_VERSIONS = ("v2.0", fmt.V21, fmt.V30)


@dataclass(frozen=True)
class EpisodeEntry:
    """Where one episode's frames are."""

    index: int
    length: int
    tasks: tuple[str, ...]
    data_path: Path
    dataset_from: int  # global frame index of the episode's first frame
    videos: dict[str, tuple[Path, int]]  # video feature -> (mp4 file, frame of the file showing frame 0)


@dataclass
class DatasetMeta:
    root: Path
    info: dict
    version: str
    fps: int
    tasks: dict[int, str]  # task_index -> text
    episodes: dict[int, EpisodeEntry]
    modality: dict

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Dataset statistics per feature (min/max/mean/std/count), aggregated over the episodes."""
        if self.version == fmt.V30:
            path = self.root / fmt.STATS_PATH
            if path.is_file():
                data = json.loads(path.read_text())
                return {k: {s: np.asarray(v, np.float64) for s, v in ft.items()} for k, ft in data.items()}
            return fmt.aggregate_stats(fmt.unflatten_stats(row) for row in read_v30_episode_rows(self.root))
        return fmt.load_aggregate_stats(self.root)


def read_info(root: Path) -> dict:
    path = root / fmt.INFO_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a LeRobot dataset: {fmt.INFO_PATH} is missing")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: expected a JSON object")
    version = info.get("codebase_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{path}: codebase_version {version!r}; this reader reads {list(READABLE_VERSIONS)}")
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise ValueError(f"{path}: missing key {key!r}")
    return info


def read_v30_episode_rows(root: Path) -> list[dict[str, Any]]:
    """Every row of meta/episodes/*/*.parquet (file order, then row order) as a dict of Python values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((root / fmt.V30_EPISODES_DIR).glob("chunk-*/file-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}: no {fmt.V30_EPISODES_DIR}/chunk-*/file-*.parquet (v3.0 episode metadata)")
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            rows += pq.read_table(path).to_pylist()
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
    return rows


def load_dataset_meta(root: Path | str) -> DatasetMeta:
    """The metadata of the LeRobot dataset at `root`, any readable version."""
    root = Path(root)
    info = read_info(root)
    version, fps = info["codebase_version"], int(info["fps"])
    if version == fmt.V30:
        tasks, episodes = _v30_tables(root, info)
    else:
        tasks, episodes = _v2_tables(root, info)
    modality_path = root / fmt.MODALITY_PATH
    modality = json.loads(modality_path.read_text()) if modality_path.is_file() else {}
    return DatasetMeta(root, info, version, fps, tasks, episodes, modality)


def _v2_tables(root: Path, info: dict) -> tuple[dict[int, str], dict[int, EpisodeEntry]]:
    tasks = {row["task_index"]: row["task"] for row in fmt.read_jsonl(root / fmt.TASKS_PATH)}
    rows = sorted(fmt.read_jsonl(root / fmt.EPISODES_PATH), key=lambda r: r["episode_index"])
    episodes: dict[int, EpisodeEntry] = {}
    start = 0
    for row in rows:
        ep, length = int(row["episode_index"]), int(row["length"])
        videos = {key: (fmt.video_file(root, info, ep, key), 0) for key in fmt.video_features(info)}
        episodes[ep] = EpisodeEntry(ep, length, tuple(row.get("tasks", ())), fmt.data_file(root, info, ep), start, videos)
        start += length
    return tasks, episodes


def _v30_tables(root: Path, info: dict) -> tuple[dict[int, str], dict[int, EpisodeEntry]]:
    tasks = fmt.read_tasks_parquet(root / fmt.V30_TASKS_PATH)
    fps = float(info["fps"])
    episodes: dict[int, EpisodeEntry] = {}
    for row in read_v30_episode_rows(root):
        try:
            ep = int(row["episode_index"])
            data = root / info["data_path"].format(chunk_index=int(row["data/chunk_index"]),
                                                   file_index=int(row["data/file_index"]))
            videos = {}
            for key in fmt.video_features(info):
                video = root / info["video_path"].format(video_key=key, chunk_index=int(row[f"videos/{key}/chunk_index"]),
                                                         file_index=int(row[f"videos/{key}/file_index"]))
                videos[key] = (video, int(round(float(row[f"videos/{key}/from_timestamp"]) * fps)))
            episodes[ep] = EpisodeEntry(ep, int(row["length"]), tuple(row.get("tasks") or ()), data,
                                        int(row["dataset_from_index"]), videos)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{root / fmt.V30_EPISODES_DIR}: episode row {row.get('episode_index')!r} is "
                             f"incomplete ({type(exc).__name__}: {exc})") from None
    return tasks, episodes
