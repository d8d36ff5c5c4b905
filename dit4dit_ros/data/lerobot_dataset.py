"""Training reader: a torch Dataset over a LeRobot v2.1 dataset, returning the DiT4DiT batch dict.

Works on datasets written by `dit4dit export-lerobot` and on G1 datasets from other tools in the same format:
the state/action columns are found by joint name (info.json feature names) or, when the names are not G1 URDF
names, by the body-part groups of meta/modality.json (`state_groups=("left_arm", "right_arm")`).

A sample at frame f of an episode of length L:
    "video"       (T, 3, H, W) float32 in [0, 1]: frames f + d for d in video_delta_indices[::video_subsample]
                  (clamped to [0, L-1]: the last frame repeats past the end), resized to `image_size`
    "state"       (state_dim,) float32: the layout's state joints at f, encoded (sin/cos, ...) and zero-padded
    "action"      (H, action_dim) float32: actions f .. f+H-1, normalized, padded with the last action past the end
    "action_mask" (H, action_dim) float32: 1 on real joints of real (not padded) steps
    "task"        str: the episode's task text (the trainer maps it to prompt embeddings)
    "episode_index", "frame_index" ints (for debugging and alignment checks)
Normalization uses `model/normalization.py` with statistics aggregated from meta/episodes_stats.jsonl.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_writer import G1_GROUPS
from dit4dit_ros.data.video import VideoReaderCache
from dit4dit_ros.model.normalization import FeatureStats, NormalizationStats, RobotLayout, StateActionCodec


@dataclass
class LeRobotReaderConfig:
    video_key: str | None = None  # modality name ("ego_view") or feature key; None = the dataset's only camera
    video_delta_indices: tuple[int, ...] = tuple(range(17))  # frames relative to the observation (0 = now)
    video_subsample: int = 2  # keep every k-th of video_delta_indices (DiT4DiT G1: 17 -> 9 frames)
    action_horizon: int = 16  # action_indices 0..H-1
    image_size: tuple[int, int] = (224, 224)  # (H, W) of the returned frames
    state_dim: int = 64  # padded widths of the model
    action_dim: int = 32
    layout: RobotLayout = field(default_factory=RobotLayout)
    state_groups: tuple[str, ...] | None = None  # select columns by modality.json groups instead of joint names
    action_groups: tuple[str, ...] | None = None
    stats: NormalizationStats | None = None  # override (e.g. a checkpoint's); default: the dataset's
    cache_frames: int = 256  # decoded frames kept per worker

    def __post_init__(self) -> None:
        self.video_delta_indices = tuple(int(d) for d in self.video_delta_indices)
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if not self.video_delta_indices:
            raise ValueError("video_delta_indices must not be empty")
        if self.video_subsample < 1:
            raise ValueError(f"video_subsample must be >= 1, got {self.video_subsample}")
        if self.action_horizon < 1:
            raise ValueError(f"action_horizon must be >= 1, got {self.action_horizon}")
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ValueError(f"image_size must be (height, width) > 0, got {self.image_size}")
        if self.cache_frames < 0:
            raise ValueError("cache_frames must be >= 0")
        for name in ("state_groups", "action_groups"):
            groups = getattr(self, name)
            if groups is not None:
                groups = tuple(groups)
                unknown = [g for g in groups if g not in G1_GROUPS]
                if unknown or not groups:
                    raise ValueError(f"{name} {groups}: expected non-empty names from {list(G1_GROUPS)}")
                setattr(self, name, groups)
        if self.state_groups is not None or self.action_groups is not None:
            state = _group_joints(self.state_groups) if self.state_groups else self.layout.state_joints
            action = _group_joints(self.action_groups) if self.action_groups else self.layout.action_joints
            layout = self.layout.to_dict()
            layout.update(state_joints=list(state), action_joints=list(action))
            self.layout = RobotLayout.from_dict(layout)

    @property
    def frame_offsets(self) -> tuple[int, ...]:
        return self.video_delta_indices[:: self.video_subsample]


def _group_joints(groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for g in groups for name in G1_GROUPS[g])


def _feature_names(ft: dict) -> list[str] | None:
    names = ft.get("names")
    if isinstance(names, dict):  # some LeRobot datasets use {"motors": [...]}
        names = next(iter(names.values()), None) if len(names) == 1 else None
    return list(names) if isinstance(names, list) else None


class LeRobotDataset(Dataset):
    """See module docstring. `root` is a LeRobot v2.1 dataset directory."""

    def __init__(self, root: Path | str, config: LeRobotReaderConfig | None = None, episodes: Sequence[int] | None = None) -> None:
        import pyarrow.parquet as pq

        self.root = Path(root)
        self.config = config or LeRobotReaderConfig()
        info_path = self.root / fmt.INFO_PATH
        if not info_path.is_file():
            raise FileNotFoundError(f"{self.root} is not a LeRobot dataset: {fmt.INFO_PATH} is missing")
        self.info = json.loads(info_path.read_text())
        if self.info.get("codebase_version") not in ("v2.0", "v2.1"):
            raise ValueError(f"{info_path}: codebase_version {self.info.get('codebase_version')!r}; this reader reads v2.0/v2.1")
        modality_path = self.root / fmt.MODALITY_PATH
        self.modality = json.loads(modality_path.read_text()) if modality_path.is_file() else {}
        self.fps = float(self.info["fps"])
        self.video_feature = self._resolve_video_key()
        self.state_columns = self._resolve_columns(fmt.STATE_KEY, "state", self.config.layout.state_joints, self.config.state_groups)
        self.action_columns = self._resolve_columns(fmt.ACTION_KEY, "action", self.config.layout.action_joints, self.config.action_groups)
        self.tasks = {row["task_index"]: row["task"] for row in fmt.read_jsonl(self.root / fmt.TASKS_PATH)}
        lengths = {row["episode_index"]: row["length"] for row in fmt.read_jsonl(self.root / fmt.EPISODES_PATH)}
        selected = sorted(lengths) if episodes is None else [int(e) for e in episodes]
        unknown = [e for e in selected if e not in lengths]
        if unknown:
            raise ValueError(f"episodes {unknown} are not in {self.root} (it has {len(lengths)} episodes)")

        states, actions, tasks, ep_index, frame_index = [], [], [], [], []
        for ep in selected:
            path = fmt.data_file(self.root, self.info, ep)
            table = pq.read_table(path, columns=[fmt.STATE_KEY, fmt.ACTION_KEY, "task_index", "frame_index"])
            if table.num_rows != lengths[ep]:
                raise ValueError(f"{path}: {table.num_rows} rows, episodes.jsonl says {lengths[ep]}")
            states.append(_vectors(table, fmt.STATE_KEY, path)[:, self.state_columns])
            actions.append(_vectors(table, fmt.ACTION_KEY, path)[:, self.action_columns])
            tasks.append(table.column("task_index").to_numpy())
            ep_index.append(np.full(table.num_rows, ep, np.int64))
            frame_index.append(table.column("frame_index").to_numpy())
        if not states:
            raise ValueError(f"{self.root}: no episodes selected")
        self.state = np.concatenate(states)
        self.action = np.concatenate(actions)
        self.task_index = np.concatenate(tasks)
        self.episode_index = np.concatenate(ep_index)
        self.frame_index = np.concatenate(frame_index)
        starts = np.cumsum([0] + [lengths[e] for e in selected])
        self._episode_start = {e: int(s) for e, s in zip(selected, starts[:-1])}
        self._episode_length = {e: lengths[e] for e in selected}

        self.stats = self.config.stats or self._dataset_stats()
        self.codec = StateActionCodec(self.config.layout, self.stats, self.config.state_dim, self.config.action_dim)
        self._cache: VideoReaderCache | None = None
        self._cache_pid = -1

    # -- metadata resolution ------------------------------------------------------------------------------
    def _resolve_video_key(self) -> str:
        videos = fmt.video_features(self.info)
        if not videos:
            raise ValueError(f"{self.root}: the dataset has no video feature")
        key = self.config.video_key
        if key is None:
            if len(videos) != 1:
                raise ValueError(f"{self.root} has cameras {videos}: choose one with video_key")
            return videos[0]
        mapped = (self.modality.get("video", {}).get(key) or {}).get("original_key")
        for candidate in (mapped, key, fmt.video_feature_key(key)):
            if candidate in videos:
                return candidate
        raise ValueError(f"{self.root}: no camera {key!r}; cameras: {videos}, modality names: {list(self.modality.get('video', {}))}")

    def _resolve_columns(self, feature: str, part: str, joints: Sequence[str], groups: Sequence[str] | None) -> np.ndarray:
        ft = self.info["features"].get(feature)
        if ft is None:
            raise ValueError(f"{self.root}: info.json has no {feature!r} feature")
        width = ft["shape"][0]
        if groups is not None:
            spec = self.modality.get(part, {})
            cols: list[int] = []
            for g in groups:
                if g not in spec:
                    raise ValueError(f"{self.root}: {fmt.MODALITY_PATH} has no {part} group {g!r}; it has {list(spec)}")
                start, end = spec[g]["start"], spec[g]["end"]
                if end - start != len(G1_GROUPS[g]) or end > width:
                    raise ValueError(f"{self.root}: {part} group {g!r} spans [{start},{end}), expected "
                                     f"{len(G1_GROUPS[g])} joints inside a vector of {width}")
                cols += range(start, end)
            return np.asarray(cols, np.int64)
        names = _feature_names(ft)
        if names is None:
            raise ValueError(f"{self.root}: {feature} has no joint names; select columns with {part}_groups "
                             f"(modality.json groups: {list(self.modality.get(part, {}))})")
        lookup = {n: i for i, n in enumerate(names)}
        missing = [j for j in joints if j not in lookup]
        if missing:
            raise ValueError(f"{self.root}: {feature} lacks joints {missing} (it has {names}); use {part}_groups "
                             "to select by modality.json groups")
        return np.asarray([lookup[j] for j in joints], np.int64)

    def _dataset_stats(self) -> NormalizationStats:
        stats = fmt.load_aggregate_stats(self.root)

        def pick(key: str, cols: np.ndarray) -> FeatureStats:
            if key not in stats:
                raise ValueError(f"{self.root}: no statistics for {key!r}")
            s = stats[key]
            return FeatureStats(*(np.asarray(s[k], np.float64)[cols] for k in ("min", "max", "mean", "std")))

        return NormalizationStats(pick(fmt.STATE_KEY, self.state_columns), pick(fmt.ACTION_KEY, self.action_columns),
                                  {"source": str(self.root), "episodes": len(self._episode_start)})

    # -- samples ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.state.shape[0])

    def _video_cache(self) -> VideoReaderCache:
        if self._cache is None or self._cache_pid != os.getpid():  # one cache per DataLoader worker process
            self._cache = VideoReaderCache(max_frames=max(self.config.cache_frames, len(self.config.frame_offsets)))
            self._cache_pid = os.getpid()
        return self._cache

    def frames_at(self, episode: int, frame_indices: Sequence[int]) -> np.ndarray:
        """(T, H, W, 3) uint8 frames of `episode` at `frame_indices` (resized to image_size)."""
        path = fmt.video_file(self.root, self.info, episode, self.video_feature)
        return np.stack(self._video_cache().frames(path, self.fps, list(frame_indices), self.config.image_size))

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range 0..{len(self) - 1}")
        ep = int(self.episode_index[i])
        f = int(self.frame_index[i])
        length = self._episode_length[ep]
        start = self._episode_start[ep]
        video_idx = [min(max(f + d, 0), length - 1) for d in self.config.frame_offsets]
        frames = self.frames_at(ep, video_idx)
        # channels-first while still uint8 (4x less to move), then one contiguous float conversion
        video = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))).float().mul_(1.0 / 255.0)

        horizon = self.config.action_horizon
        steps = f + np.arange(horizon)
        valid = steps < length
        rows = start + np.minimum(steps, length - 1)
        state = self.codec.encode_state(self.state[i])
        action, mask = self.codec.normalize_action(self.action[rows])
        mask[~valid] = 0.0
        return {
            "video": video,
            "state": torch.from_numpy(np.asarray(state, np.float32)),
            "action": torch.from_numpy(np.asarray(action, np.float32)),
            "action_mask": torch.from_numpy(np.asarray(mask, np.float32)),
            "task": self.tasks[int(self.task_index[i])],
            "episode_index": ep,
            "frame_index": f,
        }


def _vectors(table, key: str, path: Path) -> np.ndarray:
    """A list column (fixed or variable size, equal lengths) as an (N, D) float64 array, without Python lists."""
    import pyarrow.compute as pc

    column = table.column(key)
    n = table.num_rows
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    if n == 0 or flat.size % n:
        raise ValueError(f"{path}: column {key!r} does not hold equal-length vectors")
    return flat.astype(np.float64).reshape(n, flat.size // n)


class TrainingDataset(Dataset):
    """The trainer's view (model/train.py `TrainDataset`): tensors only, "task" replaced by "prompt_embeds".

    Every task of the dataset must be in the prompt cache (checked once here, so a missing embedding is an
    error at start-up listing the instructions to embed, not a crash hours into training).
    """

    def __init__(self, reader: LeRobotDataset, prompt_cache: Any) -> None:
        self.reader = reader
        self.prompt_cache = prompt_cache
        missing = [t for t in reader.tasks.values() if t not in prompt_cache]
        if missing:
            raise ValueError(
                f"{reader.root}: tasks {missing} have no prompt embedding in the cache (it has "
                f"{list(prompt_cache.instructions)}); embed them with `dit4dit embed-prompts --instruction ...`"
            )
        self._embeddings = {t: prompt_cache.get(t) for t in reader.tasks.values()}

    @property
    def normalization(self) -> NormalizationStats:
        """The statistics the samples were normalized with (saved with the checkpoint)."""
        return self.reader.stats

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        sample = self.reader[i]
        return {
            "video": sample["video"],
            "state": sample["state"],
            "action": sample["action"],
            "action_mask": sample["action_mask"],
            "prompt_embeds": self._embeddings[sample["task"]],
        }


def reader_config_for_model(cfg: Any, **overrides: Any) -> LeRobotReaderConfig:
    """Reader settings that match a DiT4DiTConfig: clip frames and stride, image size, horizon, dims, layout."""
    video, action = cfg.video, cfg.action
    settings = dict(
        video_delta_indices=tuple(range((video.num_frames - 1) * video.frame_stride + 1)),
        video_subsample=video.frame_stride,
        image_size=tuple(video.image_size),
        action_horizon=action.horizon,
        state_dim=action.state_dim,
        action_dim=action.action_dim,
        layout=cfg.layout,
    )
    settings.update(overrides)
    return LeRobotReaderConfig(**settings)


def open_training_dataset(path: str | Path, cfg: Any, prompt_cache: Any = None, **overrides: Any) -> TrainingDataset:
    """The LeRobot dataset at `path` as the trainer's dataset for model config `cfg`.

    `prompt_cache` (a PromptEmbeddingCache) maps task texts to prompt embeddings; when None, the cache file
    `meta/prompt_embeddings.safetensors` of the dataset is used if it exists.
    """
    from dit4dit_ros.model.prompt_cache import FILENAME, PromptEmbeddingCache

    reader = LeRobotDataset(path, reader_config_for_model(cfg, **overrides))
    if prompt_cache is None:
        default = Path(path) / "meta" / FILENAME
        if not default.is_file():
            raise FileNotFoundError(
                f"{path}: no prompt cache given and {default} does not exist; embed the tasks "
                f"{sorted(reader.tasks.values())} with `dit4dit embed-prompts --out {default}` or pass prompt_cache"
            )
        prompt_cache = PromptEmbeddingCache.load(default)
    return TrainingDataset(reader, prompt_cache)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # two workers on two cores: intra-op threads would only fight each other


def make_dataloader(dataset: Dataset, batch_size: int, shuffle: bool = True, num_workers: int = 2,
                    seed: int = 0, drop_last: bool = True) -> DataLoader:
    """The training DataLoader: `num_workers` persistent decode workers, pinned memory only with CUDA."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        prefetch_factor=2 if num_workers > 0 else None,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        generator=generator,
        drop_last=drop_last,
    )
