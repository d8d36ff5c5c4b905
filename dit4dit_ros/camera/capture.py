"""A capture thread around a CameraSource: pacing, rate limiting, bounded reconnects, events.

Why a thread: device reads block until the driver has a frame; running them in the ROS executor would stall
every other callback. Why bounded retries: an unplugged camera must produce a clear log line and a
diagnostic, and a limited number of reopen attempts with growing back-off, never a tight crash/restart loop.
After `max_attempts` consecutive failures the loop stops in state FAILED and says so.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from dit4dit_ros.camera.source import CameraError, CameraSource, EndOfStream, Frame, SourceInfo
from dit4dit_ros.utils.streams import Decimator

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Consecutive failures allowed before giving up, and the back-off between attempts (doubling)."""

    max_attempts: int = 10
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0, got {self.max_attempts}")
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError(
                f"need 0 < initial_backoff_s <= max_backoff_s, got {self.initial_backoff_s}, {self.max_backoff_s}"
            )

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based)."""
        return min(self.max_backoff_s, self.initial_backoff_s * 2 ** max(0, attempt - 1))


class CaptureState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FAILED = "failed"  # gave up after max_attempts consecutive failures
    FINISHED = "finished"  # a video file ended with loop off
    STOPPED = "stopped"


@dataclass(frozen=True)
class CaptureEvent:
    """A state change of the capture loop, for one log line and one diagnostic."""

    state: CaptureState
    message: str
    attempt: int = 0
    error: CameraError | None = None
    info: SourceInfo | None = None


@dataclass
class CaptureStats:
    frames: int = 0  # delivered
    skipped: int = 0  # read from a device but dropped to keep the configured rate
    read_failures: int = 0
    open_failures: int = 0
    reconnects: int = 0  # successful re-opens after a failure


class CaptureLoop:
    """Reads `source` in a thread and calls `on_frame(Frame)` at (at most) `fps` frames per second.

    Files are paced to `fps` (their own rate when fps is 0) and looped by the source; devices are read as
    fast as they deliver and decimated to `fps`. `on_event` receives every CaptureEvent. Both callbacks run in
    the capture thread and must be quick.
    """

    def __init__(
        self,
        source: CameraSource,
        on_frame: Callable[[Frame], None],
        fps: float,
        retry: RetryPolicy = RetryPolicy(),
        on_event: Callable[[CaptureEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fps < 0:
            raise ValueError(f"fps must be >= 0, got {fps}")
        self.source = source
        self.fps = fps
        self.retry = retry
        self.stats = CaptureStats()
        self.state = CaptureState.STARTING
        self.info: SourceInfo | None = None
        self.last_error: CameraError | None = None
        self._on_frame = on_frame
        self._on_event = on_event
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempt = 0  # consecutive failures

    # -- control ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("CaptureLoop.start() called twice")
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; True if it ended within `timeout` (a read blocked in a driver may outlive it)."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- thread ----------------------------------------------------------------------------------------
    def _emit(self, state: CaptureState, message: str, **kwargs) -> None:
        self.state = state
        if self._on_event is not None:
            try:
                self._on_event(CaptureEvent(state, message, **kwargs))
            except Exception:  # a reporting bug must not kill the capture thread
                LOG.exception("camera event callback failed")

    def _open(self) -> bool:
        try:
            self.info = self.source.open()
        except CameraError as exc:
            self.stats.open_failures += 1
            self.last_error = exc
            return self._failed(exc, "open")
        return True

    def _failed(self, exc: CameraError, what: str) -> bool:
        """Count a failure; back off or give up. Returns False (the caller has no open source)."""
        self._attempt += 1
        self.source.close()
        if self._attempt > self.retry.max_attempts:
            self._emit(CaptureState.FAILED,
                       f"camera {what} failed {self._attempt} times in a row, giving up: {exc.describe()}",
                       attempt=self._attempt, error=exc)
            self._stop.set()
            return False
        delay = self.retry.backoff(self._attempt)
        self._emit(CaptureState.RECONNECTING,
                   f"camera {what} failed (attempt {self._attempt}/{self.retry.max_attempts}), retrying in "
                   f"{delay:.1f} s: {exc.describe()}", attempt=self._attempt, error=exc)
        self._stop.wait(delay)
        return False

    def _run(self) -> None:
        self._attempt = 0
        opened = False
        was_failing = False
        index = 0
        period = 0.0
        next_due = 0.0
        decimator: Decimator | None = None
        try:
            while not self._stop.is_set():
                if not opened:
                    opened = self._open()
                    if not opened:
                        was_failing = True
                        continue
                    assert self.info is not None
                    rate = self.fps if self.fps > 0 else self.info.fps
                    if self.source.is_file and rate <= 0:
                        rate = 30.0
                    period = 1.0 / rate if rate > 0 else 0.0
                    decimator = Decimator(self.fps) if (self.fps > 0 and not self.source.is_file) else None
                    next_due = self._clock()
                    if was_failing:
                        self.stats.reconnects += 1
                    self._emit(CaptureState.RUNNING,
                               f"camera opened: {self.info.description} {self.info.width}x{self.info.height} "
                               f"(native {self.info.native_width}x{self.info.native_height} @ {self.info.fps:.1f} Hz, "
                               f"{self.info.backend}), publishing at {rate:.1f} Hz",
                               info=self.info)
                if self.source.is_file:
                    now = self._clock()
                    if now < next_due and self._stop.wait(next_due - now):
                        break
                    now = self._clock()
                    next_due = now + period if now - next_due > period else next_due + period
                try:
                    image = self.source.read()
                except EndOfStream as exc:
                    self._emit(CaptureState.FINISHED, str(exc))
                    return
                except CameraError as exc:
                    self.stats.read_failures += 1
                    self.last_error = exc
                    opened = self._failed(exc, "read")
                    was_failing = True
                    continue
                captured = self._clock()
                self._attempt = 0
                was_failing = False
                if decimator is not None and not decimator.accept(captured):
                    self.stats.skipped += 1
                    continue
                self._on_frame(Frame(image=image, capture_time=captured, index=index))
                index += 1
                self.stats.frames += 1
        except Exception as exc:  # a bug in a callback: report it loudly, never spin
            LOG.exception("camera capture thread crashed")
            self._emit(CaptureState.FAILED, f"camera capture thread crashed: {exc!r}")
        finally:
            self.source.close()
            if self.state not in (CaptureState.FAILED, CaptureState.FINISHED):
                self.state = CaptureState.STOPPED
