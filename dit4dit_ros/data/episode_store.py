"""On-disk layout of recorded episodes, and the rules that keep earlier episodes safe.

    <root>/episode_000000/            a finished episode = a rosbag2 bag directory
        metadata.yaml                 rosbag2 metadata (written by rosbags on close)
        episode_000000.mcap           the messages, CDR bytes as received
        episode.json                  dit4dit metadata: status, success flag, instruction, counts, errors
    <root>/.partial/episode_000003/   the episode being recorded (same layout, no metadata.yaml yet)
    <root>/.partial/episode_000004.failed/   a recording that hit an error (episode.json says which)
    <root>/.discarded/episode_000002/ episodes discarded after they were finished (kept, not deleted)

An episode only appears under <root>/episode_* by an atomic rename of a complete directory, so a crash or
Ctrl-C at any moment leaves every finished episode intact; what was being recorded stays under .partial/
with status "recording" and can be salvaged with `dit4dit record --recover <root>` (see recovery.py).
Indices are never reused: the next index is one past every index in use, partial and discarded included.
"""
from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dit4dit_ros.data.storage import FileSystem, StorageError, storage_error

EPISODE_FORMAT = "dit4dit-episode/1"
EPISODE_INFO_NAME = "episode.json"
PARTIAL_DIR = ".partial"
DISCARDED_DIR = ".discarded"
FAILED_SUFFIX = ".failed"
_EPISODE_RE = re.compile(r"^episode_(\d{6,})(\.failed)?$")

STATUS_RECORDING = "recording"  # being written (or the recorder died while writing)
STATUS_COMPLETE = "complete"  # finished normally
STATUS_RECOVERED = "recovered"  # salvaged from a crashed recording
STATUS_FAILED = "failed"  # the recorder hit an error (disk full, ...); see `error`
STATUSES = (STATUS_RECORDING, STATUS_COMPLETE, STATUS_RECOVERED, STATUS_FAILED)


def episode_name(index: int) -> str:
    return f"episode_{index:06d}"


@dataclass
class EpisodeInfo:
    """The dit4dit metadata of one episode (episode.json)."""

    episode_index: int
    status: str = STATUS_RECORDING
    success: bool | None = None  # operator's verdict (mark success/failure), None = not marked
    instruction: str = ""
    start_time_ns: int = 0  # recorder clock (ROS time) at start
    end_time_ns: int = 0
    wall_time_start: float = field(default_factory=time.time)
    message_counts: dict[str, int] = field(default_factory=dict)  # written to the bag, per topic
    dropped_counts: dict[str, int] = field(default_factory=dict)  # received but not written (backpressure)
    transport_gaps: dict[str, int] = field(default_factory=dict)  # missing publication sequence numbers
    error: str | None = None
    host: str = field(default_factory=socket.gethostname)
    format: str = EPISODE_FORMAT

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"episode status {self.status!r} is not one of {STATUSES}")
        if self.episode_index < 0:
            raise ValueError(f"episode_index must be >= 0, got {self.episode_index}")

    @property
    def duration_s(self) -> float:
        return max(0, self.end_time_ns - self.start_time_ns) * 1e-9

    def to_json(self) -> bytes:
        data = asdict(self)
        data["duration_s"] = self.duration_s
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "episode.json") -> "EpisodeInfo":
        try:
            data: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON ({exc})") from exc
        if data.get("format") != EPISODE_FORMAT:
            raise ValueError(f"{source}: format {data.get('format')!r}, expected {EPISODE_FORMAT!r}")
        data.pop("duration_s", None)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}")
        return cls(**data)


@dataclass(frozen=True)
class EpisodeEntry:
    """A finished (or salvaged) episode on disk."""

    index: int
    path: Path
    info: EpisodeInfo


class EpisodeStore:
    """Creates, finalizes, lists and discards episode directories under `root` (see module docstring)."""

    def __init__(self, root: Path | str, fs: FileSystem | None = None) -> None:
        self.root = Path(root)
        self.fs = fs or FileSystem()

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def partial_root(self) -> Path:
        return self.root / PARTIAL_DIR

    @property
    def discarded_root(self) -> Path:
        return self.root / DISCARDED_DIR

    def partial_dir(self, index: int) -> Path:
        return self.partial_root / episode_name(index)

    def final_dir(self, index: int) -> Path:
        return self.root / episode_name(index)

    # -- checks ------------------------------------------------------------------------------------------
    def ensure_writable(self, min_free_bytes: int = 0) -> None:
        """Create the layout and prove it is writable; raise StorageError with a clear reason otherwise."""
        try:
            if self.root.exists() and not self.root.is_dir():
                raise NotADirectoryError(20, "not a directory", str(self.root))
            self.fs.mkdir(self.partial_root)
            probe = self.partial_root / ".write_probe"
            self.fs.write_atomic(probe, b"ok\n")
            probe.unlink()
        except OSError as exc:
            raise storage_error(self.root, exc, "record episodes into") from exc
        free = self.fs.free_bytes(self.root)
        if free < min_free_bytes:
            raise StorageError(
                28,
                f"cannot record episodes into {self.root}: only {free / 1e6:.1f} MB free, the recorder needs at "
                f"least {min_free_bytes / 1e6:.1f} MB (parameter min_free_mb); free space or choose another directory",
            )

    # -- listing -----------------------------------------------------------------------------------------
    def _indices_in(self, directory: Path) -> list[int]:
        if not directory.is_dir():
            return []
        out = []
        for p in directory.iterdir():
            m = _EPISODE_RE.match(p.name)
            if m and p.is_dir():
                out.append(int(m.group(1)))
        return out

    def next_index(self) -> int:
        used = self._indices_in(self.root) + self._indices_in(self.partial_root) + self._indices_in(self.discarded_root)
        return max(used, default=-1) + 1

    def episodes(self) -> list[EpisodeEntry]:
        """Finished episodes, by index. A directory without a readable episode.json is skipped with no error
        here; `validate` style tools report it."""
        out = []
        for index in sorted(self._indices_in(self.root)):
            path = self.final_dir(index)
            try:
                info = self.read_info(path)
            except (OSError, ValueError):
                continue
            out.append(EpisodeEntry(index, path, info))
        return out

    def partials(self) -> list[Path]:
        """Unfinished recordings (crashed or failed), by index."""
        if not self.partial_root.is_dir():
            return []
        return sorted(
            (p for p in self.partial_root.iterdir() if p.is_dir() and _EPISODE_RE.match(p.name)),
            key=lambda p: int(_EPISODE_RE.match(p.name).group(1)),  # type: ignore[union-attr]
        )

    # -- metadata ----------------------------------------------------------------------------------------
    def write_info(self, directory: Path, info: EpisodeInfo) -> None:
        self.fs.write_atomic(directory / EPISODE_INFO_NAME, info.to_json())

    @staticmethod
    def read_info(directory: Path) -> EpisodeInfo:
        path = directory / EPISODE_INFO_NAME
        return EpisodeInfo.from_json(path.read_bytes(), source=str(path))

    # -- transitions -------------------------------------------------------------------------------------
    def finalize(self, index: int, info: EpisodeInfo, bag_files: list[Path]) -> Path:
        """Make the partial episode `index` durable and visible: fsync its files, write episode.json, rename."""
        src = self.partial_dir(index)
        for path in bag_files:
            self.fs.fsync_file(path)
        self.write_info(src, info)
        dst = self.final_dir(index)
        self.fs.rename(src, dst)
        return dst

    def mark_failed(self, index: int, info: EpisodeInfo) -> Path:
        """Rename the partial episode to `.failed` (a rename needs no free space) and try to record why."""
        src = self.partial_dir(index)
        dst = src.with_name(src.name + FAILED_SUFFIX)
        self.fs.rename(src, dst)
        try:
            self.write_info(dst, info)
        except OSError:
            pass  # the disk may be full: the directory name already marks the failure
        return dst

    def discard_partial(self, index: int) -> None:
        path = self.partial_dir(index)
        if path.exists():
            self.fs.remove_tree(path)

    def discard_final(self, index: int) -> Path:
        """Move a finished episode to .discarded/ (kept on disk so a wrong click can be undone by hand)."""
        src = self.final_dir(index)
        if not src.is_dir():
            raise FileNotFoundError(f"episode {index} does not exist under {self.root}")
        self.fs.mkdir(self.discarded_root)
        dst = self.discarded_root / src.name
        self.fs.rename(src, dst)
        return dst

    def set_success(self, index: int, success: bool) -> EpisodeInfo:
        """Record the operator's verdict on a finished episode (episode.json replaced atomically)."""
        path = self.final_dir(index)
        info = self.read_info(path)
        info.success = bool(success)
        self.write_info(path, info)
        return info

    def count(self) -> int:
        return len(self._indices_in(self.root))


__all__ = [
    "EpisodeEntry",
    "EpisodeInfo",
    "EpisodeStore",
    "StorageError",
    "episode_name",
]
