"""Training reader: a torch Dataset over a LeRobot dataset (v2.0, v2.1 or v3.0), returning the DiT4DiT batch dict.

Works on datasets written by `dit4dit export-lerobot` and on datasets from other tools in the same formats:
the state/action columns are found by G1 channel name (info.json feature names), or chosen explicitly by
modality.json groups or column spans (data/dataset_layout.py: `ColumnSelection`).

A sample at frame f of an episode of length L:
    "video"       (T, 3, H, W) float32 in [0, 1]: frames f + d for d in video_delta_indices[::video_subsample]
                  (clamped to [0, L-1]: the last frame repeats past the end), resized to `image_size`
    "state"       (state_dim,) float32: the layout's state channels at f, encoded (sin/cos, ...) and zero-padded
    "action"      (H, action_dim) float32: actions f .. f+H-1, normalized, padded with the last action past the end
    "action_mask" (H, action_dim) float32: 1 on real channels of real (not padded) steps
    "task"        str: the episode's task text (the trainer maps it to prompt embeddings)
    "episode_index", "frame_index" ints (for debugging and alignment checks)
Normalization uses `model/normalization.py` with the dataset's aggregated statistics.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.dataset_layout import ColumnSelection, resolve_part
from dit4dit_ros.data.lerobot_meta import load_dataset_meta
from dit4dit_ros.data.video import VideoReaderCache
from dit4dit_ros.g1.channels import channels_of_groups
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
    columns: ColumnSelection | None = None  # explicit column spans / keys (overrides the two above)
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
        if self.columns is None:
            self.columns = ColumnSelection(video_key=self.video_key, state_groups=self.state_groups,
                                           action_groups=self.action_groups)
        if self.video_key is None:
            self.video_key = self.columns.video_key
        # An explicit selection decides the layout's channels (in the selection's group order).
        chosen = {}
        for part in ("state", "action"):
            groups = getattr(self.columns, part) or getattr(self.columns, f"{part}_groups")
            if groups:
                chosen[f"{part}_joints"] = list(channels_of_groups(groups)[0])
        if chosen:
            self.layout = RobotLayout.from_dict({**self.layout.to_dict(), **chosen})

    @property
    def frame_offsets(self) -> tuple[int, ...]:
        return self.video_delta_indices[:: self.video_subsample]

    def explicit(self, part: str) -> bool:
        """True if the columns of `part` are chosen by spans or groups (not by the layout's names)."""
        return bool(getattr(self.columns, part) or getattr(self.columns, f"{part}_groups"))


class LeRobotDataset(Dataset):
    """See module docstring. `root` is a LeRobot dataset directory (v2.0, v2.1 or v3.0)."""

    def __init__(self, root: Path | str, config: LeRobotReaderConfig | None = None, episodes: Sequence[int] | None = None) -> None:
        import pyarrow.parquet as pq

        self.root = Path(root)
        self.config = config or LeRobotReaderConfig()
        self.meta = load_dataset_meta(self.root)
        self.info, self.modality = self.meta.info, self.meta.modality
        self.fps = float(self.meta.fps)
        self.video_feature = self._resolve_video_key()
        columns = self.config.columns
        parts = {}
        for part in ("state", "action"):
            wanted = None if self.config.explicit(part) else getattr(self.config.layout, f"{part}_joints")
            parts[part] = resolve_part(self.root, self.info, self.modality, columns, part, wanted)
        self.state_columns, self.action_columns = parts["state"].columns, parts["action"].columns
        self.tasks = dict(self.meta.tasks)
        entries = self.meta.episodes
        selected = sorted(entries) if episodes is None else [int(e) for e in episodes]
        unknown = [e for e in selected if e not in entries]
        if unknown:
            raise ValueError(f"episodes {unknown} are not in {self.root} (it has {len(entries)} episodes)")
        if not selected:
            raise ValueError(f"{self.root}: no episodes selected")

        wanted_columns = [columns.state_key, columns.action_key, "task_index", "frame_index", "episode_index"]
        tables: dict[Path, Any] = {}
        states, actions, tasks, ep_index, frame_index = [], [], [], [], []
        for ep in selected:
            entry = entries[ep]
            if entry.data_path not in tables:  # v3.0: several episodes share a file; read it once
                if not entry.data_path.is_file():
                    raise FileNotFoundError(f"{entry.data_path}: missing (episode {ep})")
                tables = {entry.data_path: pq.read_table(entry.data_path, columns=wanted_columns)}
            table = tables[entry.data_path]
            rows = np.flatnonzero(table.column("episode_index").to_numpy() == ep)
            if rows.size != entry.length:
                raise ValueError(f"{entry.data_path}: {rows.size} rows of episode {ep}, the episode metadata says "
                                 f"{entry.length}")
            part = table.take(rows)
            states.append(_vectors(part, columns.state_key, entry.data_path)[:, self.state_columns])
            actions.append(_vectors(part, columns.action_key, entry.data_path)[:, self.action_columns])
            tasks.append(part.column("task_index").to_numpy())
            ep_index.append(np.full(part.num_rows, ep, np.int64))
            frame_index.append(part.column("frame_index").to_numpy())
        self.state = np.concatenate(states)
        self.action = np.concatenate(actions)
        self.task_index = np.concatenate(tasks)
        self.episode_index = np.concatenate(ep_index)
        self.frame_index = np.concatenate(frame_index)
        starts = np.cumsum([0] + [entries[e].length for e in selected])
        self._episode_start = {e: int(s) for e, s in zip(selected, starts[:-1])}
        self._episode_length = {e: entries[e].length for e in selected}

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

    def _dataset_stats(self) -> NormalizationStats:
        stats = self.meta.stats()

        def pick(key: str, cols: np.ndarray) -> FeatureStats:
            if key not in stats:
                raise ValueError(f"{self.root}: no statistics for {key!r}")
            s = stats[key]
            return FeatureStats(*(np.asarray(s[k], np.float64).reshape(-1)[cols] for k in ("min", "max", "mean", "std")))

        columns = self.config.columns
        return NormalizationStats(pick(columns.state_key, self.state_columns), pick(columns.action_key, self.action_columns),
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
        path, first = self.meta.episodes[episode].videos[self.video_feature]
        indices = [first + int(i) for i in frame_indices]
        return np.stack(self._video_cache().frames(path, self.fps, indices, self.config.image_size))

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
