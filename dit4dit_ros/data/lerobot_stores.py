"""Where a LeRobot dataset's episodes go on disk, per format version (see lerobot_format.py for both layouts).

`LeRobotDatasetWriter` (lerobot_writer.py) prepares an episode (checks, frames, columns, stats) the same way
for every format and hands the pieces to a store:
- `V21Store`: one parquet and one mp4 per episode, meta/*.jsonl.
- `V30Store`: episodes appended to shared parquet and mp4 files, a new file once the current one passes
  the size limit (checked between episodes, as LeRobot does); meta/episodes/*.parquet, meta/tasks.parquet.
  A v3.0 mp4 is one continuous stream: episode e's frames are frames [from, to) of the file, so its
  from/to timestamps are exact multiples of 1 / fps (docs/data.md "LeRobot v3.0").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.video import VideoEncoder

_MB = 1024 * 1024


class V21Store:
    """v2.1: every episode in its own files."""

    version = fmt.V21

    def __init__(self, work: Path, spec: Any, crf: int, gop: int) -> None:
        self.work, self.spec, self.crf, self.gop = work, spec, crf, gop
        self.episodes: list[dict] = []
        self.episode_stats: list[dict] = []

    def _templates(self) -> dict:
        return {"chunks_size": self.spec.chunks_size, "data_path": fmt.DATA_PATH, "video_path": fmt.VIDEO_PATH}

    def open_video(self, key: str, index: int) -> VideoEncoder:
        """The encoder for camera `key` of episode `index` (closed by `end_video`)."""
        h, w = self.spec.video_sizes[key]
        path = fmt.video_file(self.work, self._templates(), index, fmt.video_feature_key(key))
        return VideoEncoder(path, w, h, self.spec.fps, self.spec.codec, crf=self.crf, gop=self.gop)

    def end_video(self, key: str, encoder: VideoEncoder, first_frame: int) -> dict:
        encoder.close()
        return {}

    def write_data(self, table: pa.Table, index: int) -> dict:
        path = fmt.data_file(self.work, self._templates(), index)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        return {}

    def add_episode(self, index: int, task: str, length: int, stats: dict, location: dict) -> None:
        self.episodes.append({"episode_index": index, "tasks": [task], "length": length})
        self.episode_stats.append({"episode_index": index, "stats": fmt.stats_to_json(stats)})

    def info(self, base: dict) -> dict:
        n = len(self.episodes)
        return {**base, "total_videos": n * len(self.spec.video_sizes),
                "total_chunks": (n - 1) // self.spec.chunks_size + 1 if n else 0,
                **self._templates()}

    def write_meta(self, info: dict, tasks: dict[str, int]) -> None:
        fmt.write_json(self.work / fmt.INFO_PATH, info)
        fmt.write_jsonl(self.work / fmt.TASKS_PATH,
                        ({"task_index": i, "task": t} for t, i in sorted(tasks.items(), key=lambda x: x[1])))
        fmt.write_jsonl(self.work / fmt.EPISODES_PATH, self.episodes)
        fmt.write_jsonl(self.work / fmt.EPISODES_STATS_PATH, self.episode_stats)
        fmt.write_json(self.work / fmt.STATS_PATH,
                       fmt.stats_to_json(fmt.aggregate_stats(row["stats"] for row in self.episode_stats)))

    def close(self) -> None:
        pass


class _SharedFile:
    """The current (chunk, file) of one v3.0 stream and how full it is.

    Fullness is counted in bytes handed to the writer (encoded video packets; arrow table bytes for data,
    i.e. uncompressed): the file on disk lags behind its writer's buffer, and the limit is a soft one anyway
    (LeRobot checks it between episodes too).
    """

    def __init__(self) -> None:
        self.chunk, self.file = 0, 0
        self.handle: Any = None  # VideoEncoder or pq.ParquetWriter
        self.path: Path | None = None
        self.frames = 0  # frames (rows) already in the current file
        self.bytes = 0  # data: arrow bytes written to the current file

    def full(self, limit_mb: float) -> bool:
        size = self.handle.bytes_written if isinstance(self.handle, VideoEncoder) else self.bytes
        return size >= limit_mb * _MB


class V30Store:
    """v3.0: episodes appended to shared files (a new file past data/video_file_size_mb)."""

    version = fmt.V30

    def __init__(self, work: Path, spec: Any, crf: int, gop: int) -> None:
        self.work, self.spec, self.crf, self.gop = work, spec, crf, gop
        self.rows: list[dict] = []  # meta/episodes rows
        self.episode_stats: list[dict] = []
        self._videos = {key: _SharedFile() for key in spec.video_sizes}
        self._data = _SharedFile()
        self._schema: pa.Schema | None = None

    def _roll(self, shared: _SharedFile, limit_mb: float) -> bool:
        """Close the current file if it is full; True if the next write starts a new file."""
        if shared.handle is not None and shared.full(limit_mb):
            shared.handle.close()
            shared.handle = None
            shared.chunk, shared.file = fmt.next_file(shared.chunk, shared.file, self.spec.chunks_size)
            shared.frames = shared.bytes = 0
        return shared.handle is None

    def open_video(self, key: str, index: int) -> VideoEncoder:
        shared = self._videos[key]
        if self._roll(shared, self.spec.video_file_size_mb):
            h, w = self.spec.video_sizes[key]
            shared.path = self.work / fmt.V30_VIDEO_PATH.format(
                video_key=fmt.video_feature_key(key), chunk_index=shared.chunk, file_index=shared.file)
            shared.handle = VideoEncoder(shared.path, w, h, self.spec.fps, self.spec.codec, crf=self.crf, gop=self.gop)
        return shared.handle

    def end_video(self, key: str, encoder: VideoEncoder, first_frame: int) -> dict:
        """The episode's place in the shared mp4: frames [first_frame, encoder.frames_written)."""
        shared = self._videos[key]
        start = shared.frames
        shared.frames = encoder.frames_written
        feature = fmt.video_feature_key(key)
        fps = float(self.spec.fps)
        return {f"videos/{feature}/chunk_index": shared.chunk, f"videos/{feature}/file_index": shared.file,
                f"videos/{feature}/from_timestamp": start / fps,
                f"videos/{feature}/to_timestamp": shared.frames / fps}

    def write_data(self, table: pa.Table, index: int) -> dict:
        shared = self._data
        if self._roll(shared, self.spec.data_file_size_mb):
            shared.path = self.work / fmt.V30_DATA_PATH.format(chunk_index=shared.chunk, file_index=shared.file)
            shared.path.parent.mkdir(parents=True, exist_ok=True)
            self._schema = self._schema or table.schema
            shared.handle = pq.ParquetWriter(shared.path, self._schema, compression="snappy")
        shared.handle.write_table(table.cast(self._schema))
        shared.frames += table.num_rows
        shared.bytes += table.nbytes
        return {"data/chunk_index": shared.chunk, "data/file_index": shared.file}

    def add_episode(self, index: int, task: str, length: int, stats: dict, location: dict) -> None:
        start = self.rows[-1]["dataset_to_index"] if self.rows else 0
        row = {"episode_index": index, "tasks": [task], "length": length, **location,
               "dataset_from_index": start, "dataset_to_index": start + length}
        row.update(fmt.flatten_stats(fmt.stats_to_json(stats)))
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self.rows.append(row)
        self.episode_stats.append(fmt.stats_to_json(stats))

    def info(self, base: dict) -> dict:
        features = {k: (dict(ft, fps=base["fps"]) if ft["dtype"] != "video" else ft) for k, ft in base["features"].items()}
        return {**base, "features": features, "chunks_size": self.spec.chunks_size,
                "data_files_size_in_mb": self.spec.data_file_size_mb,
                "video_files_size_in_mb": self.spec.video_file_size_mb,
                "data_path": fmt.V30_DATA_PATH, "video_path": fmt.V30_VIDEO_PATH}

    def write_meta(self, info: dict, tasks: dict[str, int]) -> None:
        self.close()
        fmt.write_json(self.work / fmt.INFO_PATH, info)
        fmt.write_tasks_parquet(self.work / fmt.V30_TASKS_PATH, tasks)
        columns = list(self.rows[0])
        table = pa.table({c: [row[c] for row in self.rows] for c in columns})
        path = self.work / fmt.V30_EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        fmt.write_json(self.work / fmt.STATS_PATH, fmt.stats_to_json(fmt.aggregate_stats(self.episode_stats)))

    def close(self) -> None:
        for shared in (*self._videos.values(), self._data):
            if shared.handle is not None:
                shared.handle.close()
                shared.handle = None


def make_store(version: str, work: Path, spec: Any, crf: int, gop: int) -> V21Store | V30Store:
    stores = {fmt.V21: V21Store, fmt.V30: V30Store}
    if version not in stores:
        raise ValueError(f"LeRobot format {version!r}; expected one of {sorted(stores)}")
    return stores[version](work, spec, crf, gop)
