"""OpenCV capture from a V4L2/UVC device (index or path, incl. RealSense colour over UVC) or a video file.

OpenCV delivers BGR; frames are converted once here to the configured colour order and size, so consumers
get exactly what the config says. Device reads use a 1-frame driver buffer where supported so that a frame
is fresh when read (a deep buffer would hand out frames captured up to 4 periods earlier, with a capture
stamp that lies).
"""
from __future__ import annotations

import glob
import logging
import os
import stat
from typing import Any

import cv2
import numpy as np

from dit4dit_ros.camera.config import CaptureConfig, SourceKind
from dit4dit_ros.camera.source import (
    CameraOpenError,
    CameraReadError,
    CameraSource,
    EndOfStream,
    SourceInfo,
)

LOG = logging.getLogger(__name__)

_BACKEND_IDS = {
    "auto": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "ffmpeg": cv2.CAP_FFMPEG,
    "gstreamer": cv2.CAP_GSTREAMER,
}


def _backend_names(device: bool) -> str:
    from cv2 import videoio_registry as registry

    ids = registry.getCameraBackends() if device else registry.getStreamBackends()
    return ",".join(registry.getBackendName(b) for b in ids)


def device_diagnostics(source: str) -> dict[str, str]:
    """Facts that explain why a camera device does not open (existence, permissions, other devices)."""
    facts: dict[str, str] = {}
    path = f"/dev/video{source}" if source.isdigit() else source
    facts["device"] = path
    if os.path.exists(path):
        mode = os.stat(path).st_mode
        facts["exists"] = "yes" + ("" if stat.S_ISCHR(mode) else " (not a character device)")
        facts["readable"] = "yes" if os.access(path, os.R_OK) else "no (add the user to the 'video' group)"
        facts["resolved"] = os.path.realpath(path)
    else:
        facts["exists"] = "no"
    found = sorted(glob.glob("/dev/video*"))
    facts["video_devices"] = ",".join(found) if found else "none (no V4L2 device visible; in a container pass --device)"
    by_id = sorted(glob.glob("/dev/v4l/by-id/*"))
    if by_id:
        facts["by_id"] = ",".join(by_id)
    facts["opencv_camera_backends"] = _backend_names(device=True)
    return facts


def file_diagnostics(path: str) -> dict[str, str]:
    """Facts that explain why a video file does not open."""
    facts = {"file": path}
    if os.path.isfile(path):
        facts["size_bytes"] = str(os.path.getsize(path))
        facts["readable"] = "yes" if os.access(path, os.R_OK) else "no"
    else:
        facts["exists"] = "no" if not os.path.exists(path) else "not a regular file"
    facts["opencv_stream_backends"] = _backend_names(device=False)
    return facts


class OpenCVCamera(CameraSource):
    """A CameraSource over cv2.VideoCapture."""

    def __init__(self, config: CaptureConfig) -> None:
        self.config = config
        self.is_file = config.is_file
        self._cap: Any = None
        self._info: SourceInfo | None = None
        self._color_code = {"rgb": cv2.COLOR_BGR2RGB, "gray": cv2.COLOR_BGR2GRAY, "bgr": None}[config.color]

    # -- opening -------------------------------------------------------------------------------------
    def _diagnostics(self) -> dict[str, str]:
        src = self.config.source.strip()
        return file_diagnostics(src) if self.is_file else device_diagnostics(src)

    def open(self) -> SourceInfo:
        self.close()
        cfg = self.config
        src = cfg.source.strip()
        kind = cfg.kind
        if kind is SourceKind.FILE and not os.path.isfile(src):
            raise CameraOpenError(f"video file {src!r} does not exist", self._diagnostics())
        target: int | str = int(src) if kind is SourceKind.DEVICE_INDEX else src
        backend = _BACKEND_IDS[cfg.backend]
        if backend == cv2.CAP_ANY and not self.is_file:
            backend = cv2.CAP_V4L2  # on Linux devices are V4L2; CAP_ANY may try GStreamer first (slow)
        params: list[int] = []
        if not self.is_file:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000)]
        cap = cv2.VideoCapture(target, backend, params)
        if not cap.isOpened():
            cap.release()
            what = "video file" if self.is_file else "camera device"
            raise CameraOpenError(f"cannot open {what} {src!r} with OpenCV backend {cfg.backend}", self._diagnostics())
        if not self.is_file:
            self._configure_device(cap)
        native_w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        native_h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if native_w <= 0 or native_h <= 0:
            cap.release()
            raise CameraOpenError(f"{src!r} opened but reports no frame size", self._diagnostics())
        width, height = cfg.size or (native_w, native_h)
        extra = {}
        if self.is_file:
            extra["frame_count"] = str(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        else:
            code = int(cap.get(cv2.CAP_PROP_FOURCC))
            extra["fourcc"] = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)) if code else "?"
        self._cap = cap
        self._info = SourceInfo(
            description=f"{'file' if self.is_file else 'device'} {src}",
            width=width, height=height, native_width=native_w, native_height=native_h,
            fps=fps, backend=cap.getBackendName(), extra=extra,
        )
        if cfg.size and (native_w, native_h) != cfg.size:
            LOG.warning("%s delivers %dx%d, frames are resized to %dx%d", src, native_w, native_h, width, height)
        return self._info

    def _configure_device(self, cap: Any) -> None:
        cfg = self.config
        if cfg.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*cfg.fourcc))
        if cfg.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps > 0:
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    # -- reading -------------------------------------------------------------------------------------
    def read(self) -> np.ndarray:
        if self._cap is None or self._info is None:
            raise CameraReadError(f"camera {self.config.source!r} is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if not self.is_file:
                raise CameraReadError(
                    f"camera device {self.config.source!r} delivered no frame within {self.config.read_timeout_s} s "
                    "(unplugged, or bandwidth: try fourcc MJPG or a lower resolution)",
                    self._diagnostics(),
                )
            if not self.config.loop:
                raise EndOfStream(f"video file {self.config.source!r} ended (loop is off)")
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise CameraReadError(f"video file {self.config.source!r} cannot be read from its start",
                                      self._diagnostics())
        return self._convert(bgr)

    def _convert(self, bgr: np.ndarray) -> np.ndarray:
        info = self._info
        assert info is not None
        if bgr.shape[1] != info.width or bgr.shape[0] != info.height:
            bgr = cv2.resize(bgr, (info.width, info.height), interpolation=cv2.INTER_AREA)
        if self._color_code is None:
            return bgr
        return cv2.cvtColor(bgr, self._color_code)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
