"""Configuration of a camera source: which device or file, at which size and rate, in which colour order."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from dit4dit_ros.utils.param_fields import param_field

SOURCE_TYPES = ("auto", "device", "file")
BACKENDS = ("auto", "v4l2", "ffmpeg", "gstreamer")
COLORS = ("rgb", "bgr", "gray")


class SourceKind(str, Enum):
    DEVICE_INDEX = "device_index"  # OpenCV camera index (V4L2 /dev/videoN on Linux)
    DEVICE_PATH = "device_path"  # /dev/videoN, /dev/v4l/by-id/... (UVC, RealSense colour over UVC)
    FILE = "file"  # a video file, paced at `fps`, optionally looped


@dataclass(frozen=True)
class CaptureConfig:
    """What to open and how to deliver frames (a real camera; the simulator's render settings are sim.camera's
    CameraConfig, a different thing, hence the different name).

    `source`: "0" (device index), "/dev/video4" or "/dev/v4l/by-id/..." (device path; by-id paths survive
    re-plugging, which /dev/videoN numbers do not), or a video file path. `source_type` forces the
    interpretation when "auto" guesses wrong. `width`/`height` = 0 keep the native size (a device is asked
    for the size; frames of another size are resized). `fps` = 0 uses the source's own rate. `fourcc`
    (e.g. "MJPG") asks a UVC device for a compressed format, which many cameras need for 30 Hz at 640x480+.
    """

    source: str = param_field("0", "device index ('0'), device path ('/dev/video4', '/dev/v4l/by-id/...') or video file")
    source_type: str = param_field("auto", "how to read `source`", choices=SOURCE_TYPES)
    width: int = param_field(0, "published image width [px]; 0 with height 0 = native size", minimum=0, maximum=8192)
    height: int = param_field(0, "published image height [px]; 0 with width 0 = native size", minimum=0, maximum=8192)
    fps: float = param_field(30.0, "publish rate [Hz]; 0 = the source's own rate", minimum=0.0, maximum=240.0)
    loop: bool = param_field(True, "restart a video file at its end (files only)")
    fourcc: str = param_field("", "pixel format asked of a UVC device, e.g. 'MJPG' (empty = driver default)")
    backend: str = param_field("auto", "OpenCV capture backend", choices=BACKENDS)
    color: str = "rgb"
    read_timeout_s: float = param_field(2.0, "a device read/open waits at most this long", minimum=0.05, maximum=60.0)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("camera source must be a device index ('0'), a device path or a video file path")
        if self.source_type not in SOURCE_TYPES:
            raise ValueError(f"camera source_type {self.source_type!r} is not one of {SOURCE_TYPES}")
        if self.backend not in BACKENDS:
            raise ValueError(f"camera backend {self.backend!r} is not one of {BACKENDS}")
        if self.color not in COLORS:
            raise ValueError(f"camera color {self.color!r} is not one of {COLORS}")
        if self.width < 0 or self.height < 0 or (self.width == 0) != (self.height == 0):
            raise ValueError(
                f"camera width/height must both be positive or both 0 (native), got {self.width}x{self.height}"
            )
        if not math.isfinite(self.fps) or self.fps < 0:
            raise ValueError(f"camera fps must be >= 0 (0 = the source's rate), got {self.fps}")
        if self.fourcc and not re.fullmatch(r"[ -~]{4}", self.fourcc):
            raise ValueError(f"camera fourcc must be 4 printable characters (e.g. 'MJPG'), got {self.fourcc!r}")
        if not self.read_timeout_s > 0:
            raise ValueError(f"camera read_timeout_s must be positive, got {self.read_timeout_s}")
        if self.source_type == "device" and self.kind is SourceKind.FILE:
            raise ValueError(f"camera source {self.source!r} is not a device index or a /dev path")

    @property
    def kind(self) -> SourceKind:
        src = self.source.strip()
        if self.source_type == "file":
            return SourceKind.FILE
        if src.isdigit():
            return SourceKind.DEVICE_INDEX
        if src.startswith("/dev/"):
            return SourceKind.DEVICE_PATH
        return SourceKind.FILE

    @property
    def is_file(self) -> bool:
        return self.kind is SourceKind.FILE

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) requested, None for native."""
        return (self.width, self.height) if self.width else None
