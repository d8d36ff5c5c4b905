"""Write a LeRobot dataset (v2.1 or v3.0, + GR00T modality.json) episode by episode, atomically.

The dataset is assembled in a sibling temporary directory and renamed into place by `finalize()`, so an
interrupted export never leaves a half-written dataset that looks valid. Frames are streamed into the video
encoder (a 60 s episode at 640x480 is 1.6 GB of raw RGB, too much to hold). Where the files go depends on
the format version (lerobot_stores.py); the checks, columns and statistics are the same for both.

State and action vectors are made of G1 body-part groups (g1/channels.py): arms, Dex3-1 hands or the
official layout's gripper scalars; meta/modality.json names each group's slice with the official DiT4DiT
G1 keys (left_arm, right_arm, left_gripper, right_gripper, or left_hand/right_hand for full hands).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pyarrow as pa

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_stores import make_store
from dit4dit_ros.data.video import CODECS, PIX_FMT
from dit4dit_ros.g1.channels import ARMS_ONLY_GROUPS, channels_of_groups

DEFAULT_GROUPS = ARMS_ONLY_GROUPS  # the rubber-hand G1; OFFICIAL_G1_GROUPS adds the two grippers
IMAGE_STATS_MAX_SAMPLES = 100
IMAGE_STATS_MAX_SIDE = 150


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
    format_version: str = fmt.CODEBASE_VERSION  # "v2.1" or "v3.0"
    data_file_size_mb: float = fmt.DEFAULT_DATA_FILE_SIZE_MB  # v3.0: start a new file past these sizes
    video_file_size_mb: float = fmt.DEFAULT_VIDEO_FILE_SIZE_MB

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise ValueError(f"DatasetSpec.fps must be a positive integer (LeRobot stores it as int), got {self.fps!r}")
        if self.format_version not in fmt.FORMATS:
            raise ValueError(f"DatasetSpec.format_version {self.format_version!r}; expected one of {fmt.FORMATS}")
        if not (self.data_file_size_mb > 0 and self.video_file_size_mb > 0):
            raise ValueError("DatasetSpec.data_file_size_mb and video_file_size_mb must be > 0")
        self.state_groups, self.action_groups = tuple(self.state_groups), tuple(self.action_groups)
        try:
            self.state_names, self.state_slices = channels_of_groups(self.state_groups)
            self.action_names, self.action_slices = channels_of_groups(self.action_groups)
        except ValueError as exc:
            raise ValueError(f"DatasetSpec groups: {exc}") from None
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
    """Adds episodes to a new dataset at `root`; `finalize()` writes meta/ and moves it into place.

    A failed `add_episode` (bad shapes, a camera with too few frames) raises; in v2.1 the dataset stays usable
    (the episode's files are overwritten by the next one), in v3.0 the episode may already be half inside a
    shared file, so the writer refuses further episodes and `finalize()` (call `abort()`).
    """

    def __init__(self, root: Path | str, spec: DatasetSpec, overwrite: bool = False, crf: int = 23, gop: int = 10) -> None:
        self.root = Path(root)
        self.spec = spec
        if self.root.exists() and any(self.root.iterdir()) and not overwrite:
            raise FileExistsError(f"dataset directory {self.root} exists and is not empty (use overwrite to replace it)")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.", dir=self.root.parent))
        self.overwrite = overwrite
        self.features = spec.features()
        self.tasks: dict[str, int] = {}
        self.num_episodes = 0
        self.total_frames = 0
        self._store = make_store(spec.format_version, self.work, spec, crf, gop)
        self._broken: str | None = None

    def _info_dict(self) -> dict:
        base = {
            "codebase_version": self.spec.format_version,
            "robot_type": self.spec.robot_type,
            "total_episodes": self.num_episodes,
            "total_frames": self.total_frames,
            "total_tasks": len(self.tasks),
            "fps": self.spec.fps,
            "splits": {"train": f"0:{self.num_episodes}"},
            "features": self.features,
        }
        return self._store.info(base)

    def _check_episode(self, task: str, state: np.ndarray, action: np.ndarray, frames: Mapping) -> None:
        if self._broken:
            raise RuntimeError(f"{self.root}: {self._broken}; abort() this writer")
        if not task:
            raise ValueError("every episode needs a task (instruction) text")
        length = state.shape[0]
        if length == 0:
            raise ValueError("an episode needs at least one frame")
        if state.shape != (length, len(self.spec.state_names)):
            raise ValueError(f"state has shape {state.shape}, expected ({length}, {len(self.spec.state_names)}) "
                             f"for groups {list(self.spec.state_groups)}")
        if action.shape != (length, len(self.spec.action_names)):
            raise ValueError(f"action has shape {action.shape}, expected ({length}, {len(self.spec.action_names)}) "
                             f"for groups {list(self.spec.action_groups)}")
        if not (np.all(np.isfinite(state)) and np.all(np.isfinite(action))):
            raise ValueError("state/action contain non-finite values")
        if set(frames) != set(self.spec.video_sizes):
            raise ValueError(f"frames given for {sorted(frames)}, the dataset has cameras {sorted(self.spec.video_sizes)}")

    def add_episode(
        self,
        task: str,
        state: np.ndarray,
        action: np.ndarray,
        frames: Mapping[str, Iterable[np.ndarray]],
    ) -> int:
        """Write one episode (T frames): state (T, n_state), action (T, n_action), frames[key] yields T RGB frames."""
        state = np.asarray(state, np.float32)
        action = np.asarray(action, np.float32)
        self._check_episode(task, state, action, frames)
        length = state.shape[0]
        index = self.num_episodes
        stats: dict[str, dict[str, np.ndarray]] = {}
        location: dict = {}
        try:
            for key in self.spec.video_sizes:
                location.update(self._write_video(key, index, frames[key], length, stats))
            location.update(self._store.write_data(self._table(state, action, index, task, stats), index))
        except BaseException as exc:
            if self._store.version != fmt.V21:
                self._broken = f"episode {index} failed half-written into a shared v3.0 file ({exc})"
            raise
        self.tasks.setdefault(task, len(self.tasks))
        self._store.add_episode(index, task, length, stats, location)
        self.num_episodes += 1
        self.total_frames += length
        return index

    def _write_video(self, key: str, index: int, frames: Iterable[np.ndarray], length: int, stats: dict) -> dict:
        h, w = self.spec.video_sizes[key]
        sample_every = max(1, length // IMAGE_STATS_MAX_SAMPLES)
        stride = max(1, max(h, w) // IMAGE_STATS_MAX_SIDE)
        samples = []
        encoder = self._store.open_video(key, index)
        first = encoder.frames_written
        try:
            for k, rgb in enumerate(frames):
                if k >= length:
                    raise ValueError(f"camera {key}: more than {length} frames for an episode of {length} steps")
                encoder.write(rgb)
                if k % sample_every == 0:
                    samples.append(rgb[::stride, ::stride])
        finally:
            written = encoder.frames_written - first
            location = self._store.end_video(key, encoder, first)
        if written != length:
            raise ValueError(f"camera {key}: {written} frames for an episode of {length} steps")
        stats[fmt.video_feature_key(key)] = fmt.image_stats(np.stack(samples))
        return location

    def _table(self, state: np.ndarray, action: np.ndarray, index: int, task: str, stats: dict) -> pa.Table:
        length = state.shape[0]
        frame_index = np.arange(length, dtype=np.int64)
        columns = {
            fmt.STATE_KEY: state,
            fmt.ACTION_KEY: action,
            "timestamp": (frame_index / self.spec.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(length, index, np.int64),
            "index": self.total_frames + frame_index,
            "task_index": np.full(length, self.tasks.get(task, len(self.tasks)), np.int64),
        }
        arrays = {}
        for name, values in columns.items():
            if values.ndim == 2:
                flat = pa.array(values.reshape(-1), type=pa.float32())
                arrays[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
            else:
                arrays[name] = pa.array(values)
            stats[name] = fmt.vector_stats(values)
        return pa.table(arrays)

    def finalize(self) -> Path:
        """Write meta/ and move the dataset to `root` (replacing it if overwrite was given)."""
        if self._broken:
            self.abort()
            raise RuntimeError(f"{self.root}: {self._broken}; nothing written")
        if not self.num_episodes:
            self.abort()
            raise ValueError(f"no episodes were added; nothing written to {self.root}")
        self._store.write_meta(self._info_dict(), self.tasks)
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
        self._store.close()
        shutil.rmtree(self.work, ignore_errors=True)
