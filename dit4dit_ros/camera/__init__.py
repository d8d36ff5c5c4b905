"""ROS-free camera sources: OpenCV devices (V4L2/UVC, RealSense colour over UVC) and video files.

`make_camera(config)` builds the source; `CaptureLoop` runs it in a thread with pacing and bounded
reconnects; `CameraCalibration` holds the intrinsics published as CameraInfo.
"""
from dit4dit_ros.camera.calibration import CameraCalibration, load_calibration
from dit4dit_ros.camera.capture import CaptureEvent, CaptureLoop, CaptureState, CaptureStats, RetryPolicy
from dit4dit_ros.camera.config import CaptureConfig, SourceKind
from dit4dit_ros.camera.source import (
    CameraError,
    CameraOpenError,
    CameraReadError,
    CameraSource,
    EndOfStream,
    Frame,
    SourceInfo,
)


def make_camera(config: CaptureConfig) -> CameraSource:
    """The CameraSource for `config` (OpenCV for devices and files)."""
    from dit4dit_ros.camera.opencv_camera import OpenCVCamera

    return OpenCVCamera(config)


__all__ = [
    "CameraCalibration", "CaptureConfig", "CameraError", "CameraOpenError", "CameraReadError", "CameraSource",
    "CaptureEvent", "CaptureLoop", "CaptureState", "CaptureStats", "EndOfStream", "Frame", "RetryPolicy",
    "SourceInfo", "SourceKind", "load_calibration", "make_camera",
]
