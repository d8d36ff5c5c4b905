"""ROS-free episode recorder: raw CDR messages in, one crash-safe rosbag2 MCAP bag per episode out.

Threads: `offer()` is called from the ROS executor (and the CycloneDDS listener for Unitree commands) and only
appends to an in-memory queue, so a slow disk never stalls message reception; one writer thread drains the
queue into the bag. The queue is bounded in bytes (`max_queue_mb`): beyond it messages are dropped and
counted per topic in the episode's metadata instead of exhausting memory.

Episode life cycle (see episode_store.py for the directory layout):
    start()  -> .partial/episode_N/ with episode.json status "recording"
    stop()   -> bag closed, fsync, episode.json "complete", renamed to episode_N/   (atomic)
    discard()-> the partial directory is deleted (or, when idle, the last episode moved to .discarded/)
    an I/O error (disk full, ...) -> the bag is aborted, the directory renamed .partial/episode_N.failed,
             the error is kept in `last_error` and returned by stop().
A process that dies leaves .partial/episode_N/ ("recording"): `recovery.recover_partials` salvages it.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from dit4dit_ros.data.bag_writer import EpisodeBagWriter
from dit4dit_ros.data.episode_store import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    EpisodeInfo,
    EpisodeStore,
)
from dit4dit_ros.data.storage import FileSystem, StorageError, describe_os_error, storage_error
from dit4dit_ros.data.topics import StreamSpec
from dit4dit_ros.utils.param_fields import param_field

LOG = logging.getLogger(__name__)
_MB = 1_000_000


class RecorderError(RuntimeError):
    """A request the recorder cannot honour in its current state (e.g. stop while idle)."""


@dataclass
class RecorderConfig:
    """Where and what to record, and the limits that keep the machine healthy."""

    output_dir: Path
    streams: tuple[StreamSpec, ...]
    # Node parameters of the recorder node too (utils/param_fields.py): declared here once.
    min_free_mb: float = param_field(500.0, "refuse to start an episode with less free disk space [MB]", minimum=0.0)
    reserve_free_mb: float = param_field(100.0, "finish the running episode early below this free space [MB]",
                                         minimum=0.0)
    max_queue_mb: float = param_field(1024.0, "in-memory backlog before messages are dropped (and counted) [MB]",
                                      minimum=1.0)
    finalize_timeout_s: float = 120.0  # bound on waiting for the writer thread to close a bag

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.streams = tuple(self.streams)
        if not self.streams:
            raise ValueError("RecorderConfig.streams must name at least one stream")
        topics = [s.topic for s in self.streams]
        if len(set(topics)) != len(topics):
            raise ValueError(f"RecorderConfig.streams has duplicate topics: {topics}")
        for name in ("min_free_mb", "reserve_free_mb", "max_queue_mb", "finalize_timeout_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"RecorderConfig.{name} must be >= 0, got {value!r}")
        if self.max_queue_mb <= 0 or self.finalize_timeout_s <= 0:
            raise ValueError("RecorderConfig.max_queue_mb and finalize_timeout_s must be > 0")
        if self.reserve_free_mb > self.min_free_mb:
            raise ValueError(
                f"RecorderConfig.reserve_free_mb ({self.reserve_free_mb}) must not exceed min_free_mb ({self.min_free_mb})"
            )


@dataclass
class EpisodeResult:
    """The outcome of stop(): where the episode is and its metadata (status, counts, error)."""

    index: int
    path: Path
    info: EpisodeInfo

    @property
    def ok(self) -> bool:
        return self.info.status == STATUS_COMPLETE


@dataclass
class _Episode:
    index: int
    info: EpisodeInfo
    writer: EpisodeBagWriter
    received: dict[str, int]
    dropped: dict[str, int]
    gaps: dict[str, int]
    last_seq: dict[Any, int] = field(default_factory=dict)
    closed: bool = False  # set by the writer thread; later queue items of this episode are ignored
    done: threading.Event = field(default_factory=threading.Event)
    result: EpisodeResult | None = None


@dataclass(frozen=True)
class _Control:
    action: str  # "finalize" | "discard"
    episode: _Episode


class EpisodeRecorder:
    """Records episodes of the configured streams under `config.output_dir` (see module docstring).

    `clock()` gives the recorder's time in ns (the ROS clock in the node, so use_sim_time is honoured);
    `on_change()` is called (from any thread) after every state change, e.g. to publish a status topic.
    """

    def __init__(
        self,
        config: RecorderConfig,
        fs: FileSystem | None = None,
        clock: Callable[[], int] = time.time_ns,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.fs = fs or FileSystem()
        self.store = EpisodeStore(config.output_dir, self.fs)
        self.clock = clock
        self.on_change = on_change or (lambda: None)
        self._topics = frozenset(s.topic for s in config.streams)
        self._lock = threading.Lock()  # guards _active, counters, _queued_bytes
        self._control = threading.Lock()  # serializes start/stop/discard/mark
        self._queue: collections.deque = collections.deque()
        self._queued_bytes = 0
        self._max_queue_bytes = int(config.max_queue_mb * _MB)
        self._wake = threading.Event()
        self._active: _Episode | None = None
        self._last_finished: int | None = None  # index of the last episode this recorder finished
        self.last_error: str | None = None
        self._closing = False
        self._next_space_check = 0.0
        self.store.ensure_writable(0)  # unwritable output directory -> StorageError now, not at first start
        self._thread = threading.Thread(target=self._run, name="episode-writer", daemon=True)
        self._thread.start()

    # -- hot path ----------------------------------------------------------------------------------------
    def offer(self, topic: str, timestamp_ns: int, data: bytes, seq: int | None = None, publisher: Any = None) -> bool:
        """Queue one message of `topic` for the running episode; False if not recording or dropped.

        `seq`/`publisher` (DDS publication sequence number and publisher id, when the middleware gives
        them) let the recorder count messages lost in transport before they reached it.
        """
        with self._lock:
            ep = self._active
            if ep is None:
                return False
            if topic not in self._topics:
                raise ValueError(f"topic {topic!r} is not a recorded stream; recorded: {sorted(self._topics)}")
            if seq is not None:
                key = (topic, publisher)
                last = ep.last_seq.get(key)
                if last is not None and seq > last + 1:
                    ep.gaps[topic] += seq - last - 1
                ep.last_seq[key] = seq
            if self._queued_bytes + len(data) > self._max_queue_bytes:
                ep.dropped[topic] += 1
                return False
            ep.received[topic] += 1
            self._queued_bytes += len(data)
            self._queue.append((ep, topic, timestamp_ns, data))
        self._wake.set()
        return True

    # -- control -----------------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._active is not None

    def start(self, instruction: str = "", initial_messages: Iterable[tuple[str, int, bytes]] = ()) -> int:
        """Begin a new episode; returns its index. `initial_messages` (topic, t_ns, data) are written first,
        e.g. the latched instruction that arrived before the episode started."""
        with self._control:
            if self._active is not None:
                raise RecorderError(f"already recording episode {self._active.index}; stop or discard it first")
            self.store.ensure_writable(int(self.config.min_free_mb * _MB))
            index = self.store.next_index()
            path = self.store.partial_dir(index)
            writer = EpisodeBagWriter(path, self.config.streams, self.fs)
            try:
                writer.open()
                info = EpisodeInfo(episode_index=index, instruction=instruction, start_time_ns=self.clock())
                self.store.write_info(path, info)
            except OSError as exc:
                writer.abort()
                raise storage_error(path, exc, "start an episode in") from exc
            zeros = {t: 0 for t in self._topics}
            ep = _Episode(index, info, writer, dict(zeros), dict(zeros), dict(zeros))
            with self._lock:
                self._active = ep
                self.last_error = None
            for topic, t_ns, data in initial_messages:
                self.offer(topic, t_ns, data)
        LOG.info("recording episode %d into %s (instruction %r)", index, path, instruction)
        self.on_change()
        return index

    def stop(self, success: bool | None = None) -> EpisodeResult:
        """Finish the running episode (bag closed, fsync'ed, renamed into place) and return its result.

        An I/O error during the episode or while closing gives a result with status "failed" and the error.
        """
        with self._control:
            with self._lock:
                ep = self._active
                if ep is None:
                    reason = f" (the last episode ended: {self.last_error})" if self.last_error else ""
                    raise RecorderError(f"not recording: nothing to stop{reason}")
                self._active = None
                ep.info.end_time_ns = self.clock()
                if success is not None:
                    ep.info.success = bool(success)
            self._queue.append(_Control("finalize", ep))
            self._wake.set()
            self._wait(ep)
        self.on_change()
        assert ep.result is not None
        return ep.result

    def discard(self) -> str:
        """Throw away the running episode, or (when idle) move the last finished one to .discarded/."""
        with self._control:
            with self._lock:
                ep = self._active
                self._active = None
            if ep is not None:
                self._queue.append(_Control("discard", ep))
                self._wake.set()
                self._wait(ep)
                message = f"discarded episode {ep.index} (was recording)"
            else:
                if self._last_finished is None:
                    raise RecorderError("nothing to discard: not recording and no episode finished in this session")
                index, self._last_finished = self._last_finished, None
                try:
                    dst = self.store.discard_final(index)
                except OSError as exc:
                    raise storage_error(self.store.final_dir(index), exc, "discard") from exc
                message = f"moved episode {index} to {dst}"
        LOG.info(message)
        self.on_change()
        return message

    def mark_success(self, success: bool) -> str:
        """Record the operator's verdict for the running episode, or else the last finished one."""
        with self._control:
            with self._lock:
                ep = self._active
                if ep is not None:
                    ep.info.success = bool(success)
                    return f"episode {ep.index} (recording) marked {'success' if success else 'failure'}"
            if self._last_finished is None:
                raise RecorderError("no episode to mark: not recording and no episode finished in this session")
            try:
                self.store.set_success(self._last_finished, success)
            except OSError as exc:
                raise storage_error(self.store.final_dir(self._last_finished), exc, "mark") from exc
            return f"episode {self._last_finished} marked {'success' if success else 'failure'}"

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for the status topic and the CLI."""
        with self._lock:
            ep = self._active
            out: dict[str, Any] = {
                "state": "recording" if ep is not None else "idle",
                "output_dir": str(self.config.output_dir),
                "episode_index": ep.index if ep is not None else None,
                "last_finished": self._last_finished,
                "queued_mb": round(self._queued_bytes / _MB, 3),
                "last_error": self.last_error,
            }
            if ep is not None:
                out["received"] = dict(ep.received)
                out["dropped"] = dict(ep.dropped)
                out["transport_gaps"] = dict(ep.gaps)
                out["instruction"] = ep.info.instruction
                out["success"] = ep.info.success
        out["episodes"] = self.store.count()
        return out

    def close(self) -> EpisodeResult | None:
        """Finish a running episode (if any) and stop the writer thread."""
        result = None
        if self._active is not None:
            try:
                result = self.stop()
            except RecorderError:
                pass
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=self.config.finalize_timeout_s)
        return result

    # -- writer thread -----------------------------------------------------------------------------------
    def _wait(self, ep: _Episode) -> None:
        if not ep.done.wait(self.config.finalize_timeout_s):
            raise RecorderError(
                f"episode {ep.index}: the writer thread did not finish within {self.config.finalize_timeout_s} s "
                f"({self._queued_bytes / _MB:.1f} MB still queued); the bag stays under {self.store.partial_root}"
            )

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                if self._closing:
                    return
                self._check_space()
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            if isinstance(item, _Control):
                self._handle_control(item)
                continue
            ep, topic, t_ns, data = item
            with self._lock:
                self._queued_bytes -= len(data)
            if ep.closed:
                continue
            try:
                ep.writer.write(topic, t_ns, data)
            except OSError as exc:
                self._fail(ep, exc)
                continue
            except Exception as exc:  # a bug must not kill the writer thread silently
                LOG.exception("episode %d: writing %s failed", ep.index, topic)
                self._fail(ep, OSError(0, f"{type(exc).__name__}: {exc}"))
                continue
            self._check_space()

    def _handle_control(self, control: _Control) -> None:
        ep = control.episode
        if control.action == "discard":
            ep.closed = True
            ep.writer.abort()
            try:
                self.store.discard_partial(ep.index)
            except OSError as exc:
                LOG.error("%s", describe_os_error(self.store.partial_dir(ep.index), exc, "delete"))
            ep.done.set()
            return
        if ep.closed:  # already failed while recording: stop() reports that result
            ep.done.set()
            return
        try:
            files = ep.writer.close()
            self._fill_counts(ep)
            ep.info.status = STATUS_COMPLETE
            path = self.store.finalize(ep.index, ep.info, files)
            ep.closed = True
            ep.result = EpisodeResult(ep.index, path, ep.info)
            self._last_finished = ep.index
            LOG.info(
                "episode %d finished: %.1f s, %s -> %s", ep.index, ep.info.duration_s, ep.info.message_counts, path
            )
        except OSError as exc:
            self._fail(ep, exc)
        finally:
            ep.done.set()

    def _fill_counts(self, ep: _Episode) -> None:
        with self._lock:
            ep.info.message_counts = dict(ep.writer.counts)
            ep.info.dropped_counts = dict(ep.dropped)
            ep.info.transport_gaps = dict(ep.gaps)

    def _fail(self, ep: _Episode, exc: OSError) -> None:
        """An I/O error ends the episode: abort the bag, mark the directory failed, remember the reason."""
        ep.closed = True
        ep.writer.abort()
        message = f"episode {ep.index} failed: " + describe_os_error(ep.writer.path, exc)
        with self._lock:
            if self._active is ep:
                self._active = None
            self.last_error = message
            if not ep.info.end_time_ns:
                ep.info.end_time_ns = self.clock()
        self._fill_counts(ep)
        ep.info.status = STATUS_FAILED
        ep.info.error = message
        try:
            path = self.store.mark_failed(ep.index, ep.info)
        except OSError as exc2:
            LOG.error("%s", describe_os_error(self.store.partial_dir(ep.index), exc2, "mark as failed"))
            path = self.store.partial_dir(ep.index)
        ep.result = EpisodeResult(ep.index, path, ep.info)
        LOG.error("%s (kept as %s)", message, path)
        ep.done.set()
        self.on_change()

    def _check_space(self) -> None:
        """Finish the running episode early (keeping it) when the disk is nearly full, before ENOSPC hits."""
        now = time.monotonic()
        if now < self._next_space_check or self._active is None:
            return
        self._next_space_check = now + 1.0
        try:
            free = self.fs.free_bytes(self.config.output_dir)
        except OSError:
            return
        if free >= self.config.reserve_free_mb * _MB:
            return
        with self._lock:
            ep = self._active
            if ep is None:
                return
            self._active = None
            ep.info.end_time_ns = self.clock()
            message = (
                f"episode {ep.index} stopped early: only {free / _MB:.1f} MB free in {self.config.output_dir} "
                f"(reserve_free_mb {self.config.reserve_free_mb})"
            )
            ep.info.error = message
            self.last_error = message
        LOG.error("%s", message)
        self._queue.append(_Control("finalize", ep))
        self.on_change()


__all__ = ["EpisodeRecorder", "EpisodeResult", "RecorderConfig", "RecorderError", "StorageError"]
