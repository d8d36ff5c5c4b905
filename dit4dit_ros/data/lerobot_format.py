"""The LeRobot dataset formats v2.1 (what `lerobot` 0.2/0.3 reads) and v3.0 (`lerobot` >= 0.4), plus GR00T's
meta/modality.json.

v2.1 (one file per episode; episode e in chunk c = e // chunks_size):
    meta/info.json             codebase_version "v2.1", fps, features, totals, splits, path templates
    meta/tasks.jsonl           {"task_index": i, "task": "..."} per line
    meta/episodes.jsonl        {"episode_index": e, "tasks": ["..."], "length": n} per line
    meta/episodes_stats.jsonl  {"episode_index": e, "stats": {feature: {min, max, mean, std, count}}} per line
    data/chunk-{c:03d}/episode_{e:06d}.parquet
    videos/chunk-{c:03d}/observation.images.<key>/episode_{e:06d}.mp4

v3.0 (many episodes per file; files numbered file-000, file-001, ... and chunk-000 after chunks_size files):
    meta/info.json             codebase_version "v3.0", data_files_size_in_mb, video_files_size_in_mb, no
                               total_chunks/total_videos; every non-video feature also carries "fps"
    meta/tasks.parquet         column task_index, the task text as the (pandas) index column
    meta/episodes/chunk-{c:03d}/file-{f:03d}.parquet
                               one row per episode: episode_index, tasks (list of str), length,
                               data/chunk_index, data/file_index, dataset_from_index, dataset_to_index (global
                               frame index range [from, to)), videos/<key>/{chunk_index, file_index,
                               from_timestamp, to_timestamp} (the episode's span [s] in the shared mp4),
                               stats/<feature>/{min, max, mean, std, count}, meta/episodes/{chunk_index, file_index}
    meta/stats.json            dataset stats (aggregated)
    data/chunk-{c:03d}/file-{f:03d}.parquet              rows of consecutive episodes, in global index order
    videos/<key>/chunk-{c:03d}/file-{f:03d}.mp4           frames of consecutive episodes; frame k of the file
                                                          is shown at k / fps

Both: meta/modality.json (GR00T): slices of observation.state/action per body part, video and annotation keys.
Parquet columns: every non-video feature: observation.state, action (fixed-size float32 lists), timestamp
(float32 s, = frame_index / fps, per episode), frame_index, episode_index, index (global), task_index (int64).
Stats: per feature over the episode's frames; vectors give per-dimension lists, scalars 1-element lists,
videos per-channel (3, 1, 1) nested lists in [0, 1] from sampled frames; count = [number of samples].
Aggregation across episodes follows LeRobot (count-weighted mean, pooled variance, min of mins, max of maxes).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

V21 = "v2.1"
V30 = "v3.0"
FORMATS = (V21, V30)
CODEBASE_VERSION = V21  # what `export-lerobot` writes by default (LeRobot 0.3.x, GR00T loaders)
DEFAULT_CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
INFO_PATH = "meta/info.json"
TASKS_PATH = "meta/tasks.jsonl"
EPISODES_PATH = "meta/episodes.jsonl"
EPISODES_STATS_PATH = "meta/episodes_stats.jsonl"
STATS_PATH = "meta/stats.json"
MODALITY_PATH = "meta/modality.json"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
VIDEO_PREFIX = "observation.images."
TASK_ANNOTATION = "human.task_description"
STATS_KEYS = ("min", "max", "mean", "std", "count")
# v3.0
V30_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
V30_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
V30_EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
V30_EPISODES_DIR = "meta/episodes"
V30_TASKS_PATH = "meta/tasks.parquet"
DEFAULT_DATA_FILE_SIZE_MB = 100  # LeRobot's defaults: start a new file past these sizes
DEFAULT_VIDEO_FILE_SIZE_MB = 200

# Index columns every LeRobot v2.x dataset has (dtype, shape (1,), names None).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
REQUIRED_INFO_KEYS: dict[str, type | tuple[type, ...]] = {
    "codebase_version": str,
    "robot_type": (str, type(None)),
    "total_episodes": int,
    "total_frames": int,
    "total_tasks": int,
    "total_videos": int,
    "total_chunks": int,
    "chunks_size": int,
    "fps": int,
    "splits": dict,
    "data_path": str,
    "video_path": (str, type(None)),
    "features": dict,
}
VIDEO_INFO_KEYS = ("video.fps", "video.height", "video.width", "video.channels", "video.codec", "video.pix_fmt",
                   "video.is_depth_map", "has_audio")


def video_feature_key(video_key: str) -> str:
    """'ego_view' -> 'observation.images.ego_view'."""
    return video_key if video_key.startswith(VIDEO_PREFIX) else VIDEO_PREFIX + video_key


def episode_chunk(episode_index: int, chunks_size: int) -> int:
    return episode_index // chunks_size


def data_file(root: Path, info: dict, episode_index: int) -> Path:
    chunk = episode_chunk(episode_index, info["chunks_size"])
    return root / info["data_path"].format(episode_chunk=chunk, episode_index=episode_index)


def video_file(root: Path, info: dict, episode_index: int, feature_key: str) -> Path:
    chunk = episode_chunk(episode_index, info["chunks_size"])
    return root / info["video_path"].format(episode_chunk=chunk, video_key=feature_key, episode_index=episode_index)


def video_features(info: dict) -> list[str]:
    return [k for k, ft in info["features"].items() if ft.get("dtype") == "video"]


def next_file(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """v3.0: the (chunk, file) after (chunk_index, file_index): files 0..chunks_size-1 per chunk."""
    return (chunk_index + 1, 0) if file_index >= chunks_size - 1 else (chunk_index, file_index + 1)


def flatten_stats(stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{feature: {stat: v}} -> {"stats/<feature>/<stat>": v} (the v3.0 episodes parquet columns)."""
    return {f"stats/{key}/{name}": value for key, ft in stats.items() for name, value in ft.items()}


def unflatten_stats(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Inverse of flatten_stats over the "stats/..." entries of a row (other entries are ignored).

    Feature keys may contain "/" (none of ours do, LeRobot allows it): the stat name is the last part.
    """
    out: dict[str, dict[str, Any]] = {}
    for column, value in row.items():
        if column.startswith("stats/") and column.count("/") >= 2:
            feature, name = column[len("stats/"):].rsplit("/", 1)
            out.setdefault(feature, {})[name] = value
    return out


# ---- v3.0 tasks.parquet (a pandas DataFrame: task text as index, column task_index) ----------------------
TASK_INDEX_NAME = "task"


def write_tasks_parquet(path: Path, tasks: dict[str, int]) -> None:
    """meta/tasks.parquet as LeRobot writes it with pandas: `pd.read_parquet` gives a frame indexed by task text
    with a task_index column. Written with pyarrow plus the pandas schema metadata (pandas is not needed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(tasks.items(), key=lambda item: item[1])
    table = pa.table({"task_index": pa.array([i for _, i in ordered], pa.int64()),
                      TASK_INDEX_NAME: pa.array([t for t, _ in ordered], pa.string())})
    pandas_meta = {
        "index_columns": [TASK_INDEX_NAME],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": TASK_INDEX_NAME, "field_name": TASK_INDEX_NAME, "pandas_type": "unicode",
             "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_tasks_parquet(path: Path) -> dict[int, str]:
    """{task_index: task} from a v3.0 meta/tasks.parquet (the text column is the pandas index column, named
    in the pandas metadata: ours "task", LeRobot's "__index_level_0__"). ValueError names what is wrong."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
    meta = table.schema.metadata or {}
    text_column = None
    if b"pandas" in meta:
        try:
            index_columns = json.loads(meta[b"pandas"]).get("index_columns", [])
        except (ValueError, AttributeError):
            index_columns = []
        text_column = next((c for c in index_columns if isinstance(c, str) and c in table.column_names), None)
    text_column = text_column or next((c for c in (TASK_INDEX_NAME, "__index_level_0__") if c in table.column_names), None)
    if text_column is None or "task_index" not in table.column_names:
        raise ValueError(f"{path}: expected a task_index column and the task text as the index column, "
                         f"got columns {table.column_names}")
    indices = table.column("task_index").to_pylist()
    texts = table.column(text_column).to_pylist()
    if not all(isinstance(i, int) for i in indices) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{path}: task_index must be integers and {text_column!r} strings")
    if len(set(indices)) != len(indices):
        raise ValueError(f"{path}: task_index values repeat: {sorted(indices)}")
    return dict(zip(indices, texts))


# ---- stats --------------------------------------------------------------------------------------------
def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Stats over axis 0 of (N,) or (N, D) data; scalars keep a length-1 axis (LeRobot's keepdims)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    return {
        "min": arr.min(0),
        "max": arr.max(0),
        "mean": arr.mean(0),
        "std": arr.std(0),
        "count": np.array([arr.shape[0]]),
    }


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel stats of (N, H, W, 3) uint8 frames, in [0, 1], shaped (3, 1, 1); count = N."""
    arr = np.asarray(frames, dtype=np.float64) / 255.0
    per_channel = arr.reshape(-1, 3)
    shape = (3, 1, 1)
    return {
        "min": per_channel.min(0).reshape(shape),
        "max": per_channel.max(0).reshape(shape),
        "mean": per_channel.mean(0).reshape(shape),
        "std": per_channel.std(0).reshape(shape),
        "count": np.array([arr.shape[0]]),
    }


def aggregate_stats(per_episode: Iterable[dict[str, dict[str, Any]]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset stats from episode stats (count-weighted mean, pooled variance, global min/max)."""
    collected: dict[str, list[dict[str, np.ndarray]]] = {}
    for stats in per_episode:
        for key, ft in stats.items():
            collected.setdefault(key, []).append({k: np.asarray(v, dtype=np.float64) for k, v in ft.items()})
    out = {}
    for key, items in collected.items():
        counts = np.array([float(np.asarray(s["count"]).reshape(-1)[0]) for s in items])
        total = counts.sum()
        if total <= 0:
            raise ValueError(f"stats of {key!r}: total count is 0")
        means = np.stack([s["mean"] for s in items])
        variances = np.stack([s["std"] for s in items]) ** 2
        w = counts.reshape((-1,) + (1,) * (means.ndim - 1))
        mean = (means * w).sum(0) / total
        var = ((variances + (means - mean) ** 2) * w).sum(0) / total
        out[key] = {
            "min": np.min(np.stack([s["min"] for s in items]), axis=0),
            "max": np.max(np.stack([s["max"] for s in items]), axis=0),
            "mean": mean,
            "std": np.sqrt(var),
            "count": np.array([int(total)]),
        }
    return out


def stats_to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    return {key: {k: np.asarray(v).tolist() for k, v in ft.items()} for key, ft in stats.items()}


# ---- json helpers -------------------------------------------------------------------------------------
def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file; a bad line is a ValueError naming the file and line."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
    return rows


def load_aggregate_stats(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """Dataset stats from meta/episodes_stats.jsonl (v2.1), else meta/stats.json (v2.0)."""
    path = root / EPISODES_STATS_PATH
    if path.is_file():
        return aggregate_stats(row["stats"] for row in read_jsonl(path))
    legacy = root / STATS_PATH
    if legacy.is_file():
        data = json.loads(legacy.read_text())
        return {k: {s: np.asarray(v) for s, v in ft.items()} for k, ft in data.items()}
    raise FileNotFoundError(f"{root}: neither {EPISODES_STATS_PATH} nor {STATS_PATH} exists; cannot normalize")
