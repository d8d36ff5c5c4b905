"""Write a LeRobot v2.1 dataset (+ GR00T modality.json) episode by episode, atomically.

The dataset is assembled in a sibling temporary directory and renamed into place by `finalize()`, so an
interrupted export never leaves a half-written dataset that looks valid. Frames are streamed into the video
encoder (a 60 s episode at 640x480 is 1.6 GB of raw RGB, too much to hold).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.video import CODECS, PIX_FMT, VideoEncoder
from dit4dit_ros.g1.joints import LEFT_ARM, LEGS, RIGHT_ARM, WAIST

# Body-part groups of the G1 for modality.json, in SDK joint order within each group.
G1_GROUPS: dict[str, tuple[str, ...]] = {
    "left_leg": LEGS[:6],
    "right_leg": LEGS[6:],
    "waist": WAIST,
    "left_arm": LEFT_ARM,
    "right_arm": RIGHT_ARM,
}
DEFAULT_GROUPS = ("left_arm", "right_arm")  # the official G1 arms-only layout (no grippers on rubber hands)
IMAGE_STATS_MAX_SAMPLES = 100
IMAGE_STATS_MAX_SIDE = 150


def joints_of_groups(groups: Iterable[str]) -> tuple[tuple[str, ...], dict[str, tuple[int, int]]]:
    """Joint names of `groups` concatenated, and each group's [start, end) slice."""
    names: list[str] = []
    slices: dict[str, tuple[int, int]] = {}
    for group in groups:
        if group not in G1_GROUPS:
            raise ValueError(f"unknown G1 joint group {group!r}; expected some of {list(G1_GROUPS)}")
        if group in slices:
            raise ValueError(f"joint group {group!r} listed twice")
        slices[group] = (len(names), len(names) + len(G1_GROUPS[group]))
        names += G1_GROUPS[group]
    if not names:
        raise ValueError("at least one joint group is needed")
    return tuple(names), slices


@dataclass
class DatasetSpec:
    """What every episode of the dataset contains."""

    fps: int
    state_groups: tuple[str, ...] = DEFAULT_GROUPS
    action_groups: tuple[str, ...] = DEFAULT_GROUPS
    video_sizes: dict[str, tuple[int, int]] = field(default_factory=lambda: {"ego_view": (480, 640)})  # key -> (H, W)
    codec: str = "h264"
    robot_type: str = "unitree_g1"
    chunks_size: int = fmt.DEFAULT_CHUNKS_SIZE

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise ValueError(f"DatasetSpec.fps must be a positive integer (LeRobot stores it as int), got {self.fps!r}")
        self.state_groups, self.action_groups = tuple(self.state_groups), tuple(self.action_groups)
        self.state_names, self.state_slices = joints_of_groups(self.state_groups)
        self.action_names, self.action_slices = joints_of_groups(self.action_groups)
        if self.codec not in CODECS:
            raise ValueError(f"DatasetSpec.codec {self.codec!r}; expected one of {sorted(CODECS)}")
        if not self.video_sizes:
            raise ValueError("DatasetSpec.video_sizes needs at least one camera")
        for key, (h, w) in self.video_sizes.items():
            if not key.isidentifier():
                raise ValueError(f"video key {key!r} must be an identifier like 'ego_view'")
            if h % 2 or w % 2 or h <= 0 or w <= 0:
                raise ValueError(f"video {key}: size {w}x{h} must be even and positive (yuv420p)")
        if self.chunks_size <= 0:
            raise ValueError("DatasetSpec.chunks_size must be > 0")

    def features(self) -> dict[str, dict]:
        feats: dict[str, dict] = {}
        for key, (h, w) in self.video_sizes.items():
            feats[fmt.video_feature_key(key)] = {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.fps": float(self.fps),
                    "video.height": h,
                    "video.width": w,
                    "video.channels": 3,
                    "video.codec": self.codec,
                    "video.pix_fmt": PIX_FMT,
                    "video.is_depth_map": False,
                    "has_audio": False,
                },
            }
        feats[fmt.STATE_KEY] = {"dtype": "float32", "shape": [len(self.state_names)], "names": list(self.state_names)}
        feats[fmt.ACTION_KEY] = {"dtype": "float32", "shape": [len(self.action_names)], "names": list(self.action_names)}
        feats.update({k: dict(v) for k, v in fmt.DEFAULT_FEATURES.items()})
        return feats

    def modality(self) -> dict:
        def slices(s: Mapping[str, tuple[int, int]], absolute: bool | None) -> dict:
            out = {}
            for group, (start, end) in s.items():
                entry: dict = {"start": start, "end": end}
                if absolute is not None:
                    entry["absolute"] = absolute
                out[group] = entry
            return out

        return {
            "state": slices(self.state_slices, None),
            "action": slices(self.action_slices, True),
            "video": {key: {"original_key": fmt.video_feature_key(key)} for key in self.video_sizes},
            "annotation": {fmt.TASK_ANNOTATION: {"original_key": "task_index"}},
        }


class LeRobotDatasetWriter:
    """Adds episodes to a new dataset at `root`; `finalize()` writes meta/ and moves it into place."""

    def __init__(self, root: Path | str, spec: DatasetSpec, overwrite: bool = False, crf: int = 23, gop: int = 10) -> None:
        self.root = Path(root)
        self.spec = spec
        self.crf, self.gop = crf, gop
        if self.root.exists() and any(self.root.iterdir()) and not overwrite:
            raise FileExistsError(f"dataset directory {self.root} exists and is not empty (use overwrite to replace it)")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.", dir=self.root.parent))
        self.overwrite = overwrite
        self.features = spec.features()
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict] = []
        self.episode_stats: list[dict] = []
        self.total_frames = 0
        self._info: dict = self._info_dict()

    def _info_dict(self) -> dict:
        return {
            "codebase_version": fmt.CODEBASE_VERSION,
            "robot_type": self.spec.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self.total_frames,
            "total_tasks": len(self.tasks),
            "total_videos": len(self.episodes) * len(self.spec.video_sizes),
            "total_chunks": (len(self.episodes) - 1) // self.spec.chunks_size + 1 if self.episodes else 0,
            "chunks_size": self.spec.chunks_size,
            "fps": self.spec.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": fmt.DATA_PATH,
            "video_path": fmt.VIDEO_PATH,
            "features": self.features,
        }

    def add_episode(
        self,
        task: str,
        state: np.ndarray,
        action: np.ndarray,
        frames: Mapping[str, Iterable[np.ndarray]],
    ) -> int:
        """Write one episode (T frames): state (T, n_state), action (T, n_action), frames[key] yields T RGB frames."""
        if not task:
            raise ValueError("every episode needs a task (instruction) text")
        state = np.asarray(state, np.float32)
        action = np.asarray(action, np.float32)
        length = state.shape[0]
        if length == 0:
            raise ValueError("an episode needs at least one frame")
        if state.shape != (length, len(self.spec.state_names)):
            raise ValueError(f"state has shape {state.shape}, expected ({length}, {len(self.spec.state_names)})")
        if action.shape != (length, len(self.spec.action_names)):
            raise ValueError(f"action has shape {action.shape}, expected ({length}, {len(self.spec.action_names)})")
        if not (np.all(np.isfinite(state)) and np.all(np.isfinite(action))):
            raise ValueError("state/action contain non-finite values")
        if set(frames) != set(self.spec.video_sizes):
            raise ValueError(f"frames given for {sorted(frames)}, the dataset has cameras {sorted(self.spec.video_sizes)}")
        index = len(self.episodes)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        info = self._info
        stats: dict[str, dict[str, np.ndarray]] = {}

        for key, (h, w) in self.spec.video_sizes.items():
            feature = fmt.video_feature_key(key)
            path = fmt.video_file(self.work, info, index, feature)
            sample_every = max(1, length // IMAGE_STATS_MAX_SAMPLES)
            stride = max(1, max(h, w) // IMAGE_STATS_MAX_SIDE)
            samples = []
            with VideoEncoder(path, w, h, self.spec.fps, self.spec.codec, crf=self.crf, gop=self.gop) as encoder:
                for k, rgb in enumerate(frames[key]):
                    if k >= length:
                        raise ValueError(f"camera {key}: more than {length} frames for an episode of {length} steps")
                    encoder.write(rgb)
                    if k % sample_every == 0:
                        samples.append(rgb[::stride, ::stride])
                written = encoder.frames_written
            if written != length:
                raise ValueError(f"camera {key}: {written} frames for an episode of {length} steps")
            stats[feature] = fmt.image_stats(np.stack(samples))

        frame_index = np.arange(length, dtype=np.int64)
        columns = {
            fmt.STATE_KEY: state,
            fmt.ACTION_KEY: action,
            "timestamp": (frame_index / self.spec.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(length, index, np.int64),
            "index": self.total_frames + frame_index,
            "task_index": np.full(length, task_index, np.int64),
        }
        arrays = {}
        for name, values in columns.items():
            if values.ndim == 2:
                flat = pa.array(values.reshape(-1), type=pa.float32())
                arrays[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
            else:
                arrays[name] = pa.array(values)
            stats[name] = fmt.vector_stats(values)
        path = fmt.data_file(self.work, info, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(arrays), path)

        self.episodes.append({"episode_index": index, "tasks": [task], "length": length})
        self.episode_stats.append({"episode_index": index, "stats": fmt.stats_to_json(stats)})
        self.total_frames += length
        self._info = self._info_dict()
        return index

    def finalize(self) -> Path:
        """Write meta/ and move the dataset to `root` (replacing it if overwrite was given)."""
        if not self.episodes:
            self.abort()
            raise ValueError(f"no episodes were added; nothing written to {self.root}")
        fmt.write_json(self.work / fmt.INFO_PATH, self._info)
        fmt.write_jsonl(self.work / fmt.TASKS_PATH,
                        ({"task_index": i, "task": t} for t, i in sorted(self.tasks.items(), key=lambda x: x[1])))
        fmt.write_jsonl(self.work / fmt.EPISODES_PATH, self.episodes)
        fmt.write_jsonl(self.work / fmt.EPISODES_STATS_PATH, self.episode_stats)
        fmt.write_json(self.work / fmt.STATS_PATH,
                       fmt.stats_to_json(fmt.aggregate_stats(row["stats"] for row in self.episode_stats)))
        fmt.write_json(self.work / fmt.MODALITY_PATH, self.spec.modality())
        if self.root.exists():
            if not self.overwrite and any(self.root.iterdir()):
                raise FileExistsError(f"dataset directory {self.root} appeared during the export")
            old = self.root.with_name(f".{self.root.name}.old")
            if old.exists():
                shutil.rmtree(old)
            self.root.rename(old)
            self.work.rename(self.root)
            shutil.rmtree(old)
        else:
            self.work.rename(self.root)
        return self.root

    def abort(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
