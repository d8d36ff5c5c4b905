"""The camera seam: an abstract frame source, its errors, and the frame record.

Everything that delivers frames (an OpenCV device or file here; a simulator or a fake elsewhere) implements
CameraSource, so the capture loop and the ROS node do not care where pixels come from.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


class CameraError(RuntimeError):
    """A camera problem; `diagnostics` holds key/value facts for logs and /diagnostics."""

    def __init__(self, message: str, diagnostics: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.diagnostics: dict[str, str] = dict(diagnostics or {})

    def describe(self) -> str:
        """The message plus its diagnostics on one line (what the log shows)."""
        if not self.diagnostics:
            return str(self)
        facts = "; ".join(f"{k}={v}" for k, v in self.diagnostics.items())
        return f"{self} [{facts}]"


class CameraOpenError(CameraError):
    """The source could not be opened (missing device/file, permissions, busy, unsupported format)."""


class CameraReadError(CameraError):
    """An opened source failed to deliver a frame (unplugged, timeout, decode error)."""


class EndOfStream(CameraError):
    """A video file ended and looping is off."""


@dataclass(frozen=True)
class SourceInfo:
    """What an opened source actually delivers (may differ from what was asked for)."""

    description: str
    width: int  # of delivered frames (after resizing)
    height: int
    native_width: int
    native_height: int
    fps: float  # the source's own rate (0 if unknown)
    backend: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """One delivered frame: pixels in the configured colour order, and when it was captured."""

    image: np.ndarray  # (H, W, 3) uint8 rgb/bgr, or (H, W) uint8 gray
    capture_time: float  # time.monotonic() right after the frame was grabbed
    index: int  # 0, 1, 2, ... per capture loop (gaps = dropped by rate limiting are not counted)


class CameraSource(ABC):
    """A source of frames. open() before read(); close() is idempotent."""

    is_file: bool = False

    @abstractmethod
    def open(self) -> SourceInfo:
        """Open the source; raises CameraOpenError with diagnostics."""

    @abstractmethod
    def read(self) -> np.ndarray:
        """The next frame (blocking); raises CameraReadError, or EndOfStream for a finished file."""

    @abstractmethod
    def close(self) -> None:
        """Release the source."""

    def __enter__(self) -> "CameraSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
