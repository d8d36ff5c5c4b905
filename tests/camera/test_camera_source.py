"""ROS-free camera sources: video files (pacing, loop, resize, colour), device failures, bounded retries."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dit4dit_ros.camera import (
    CameraCalibration,
    CaptureConfig,
    CameraOpenError,
    CameraReadError,
    CameraSource,
    CaptureLoop,
    CaptureState,
    EndOfStream,
    RetryPolicy,
    SourceInfo,
    SourceKind,
    load_calibration,
    make_camera,
)
from dit4dit_ros.utils.waiting import wait_until


def write_test_video(path, frames: int = 12, width: int = 64, height: int = 48, fps: float = 30.0) -> None:
    """A small MJPG AVI whose frame i is a solid colour with blue = 10*i (BGR), red = 200."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:, :, 0] = 10 * i
        frame[:, :, 2] = 200
        writer.write(frame)
    writer.release()


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    write_test_video(path)
    return path


def test_config_kinds_and_validation(tmp_path):
    assert CaptureConfig("0").kind is SourceKind.DEVICE_INDEX
    assert CaptureConfig("/dev/v4l/by-id/usb-Intel_RealSense-video-index0").kind is SourceKind.DEVICE_PATH
    assert CaptureConfig("clip.mp4").kind is SourceKind.FILE
    assert CaptureConfig("0", source_type="file").is_file
    with pytest.raises(ValueError, match="both be positive or both 0"):
        CaptureConfig("0", width=640)
    with pytest.raises(ValueError, match="fourcc"):
        CaptureConfig("0", fourcc="MJPEG")
    with pytest.raises(ValueError, match="not a device index"):
        CaptureConfig("clip.mp4", source_type="device")


def test_file_source_rgb_resize_and_loop(video):
    cam = make_camera(CaptureConfig(str(video), width=32, height=24, loop=True))
    info = cam.open()
    assert (info.width, info.height, info.native_width, info.native_height) == (32, 24, 64, 48)
    assert info.fps == pytest.approx(30.0)
    frames = [cam.read() for _ in range(14)]  # 12 frames, then wraps
    cam.close()
    assert frames[0].shape == (24, 32, 3) and frames[0].dtype == np.uint8
    # RGB order: red channel 200 (JPEG is lossy: tolerances), blue grows with the frame index.
    assert abs(int(frames[3][..., 0].mean()) - 200) < 8 and abs(int(frames[3][..., 2].mean()) - 30) < 8
    assert abs(int(frames[12][..., 2].mean()) - 0) < 8  # looped back to frame 0


def test_file_source_end_of_stream_and_gray(video):
    cam = make_camera(CaptureConfig(str(video), loop=False, color="gray"))
    cam.open()
    for _ in range(12):
        assert cam.read().shape == (48, 64)
    with pytest.raises(EndOfStream, match="ended"):
        cam.read()
    cam.close()


def test_missing_file_and_device_give_diagnostics(tmp_path):
    with pytest.raises(CameraOpenError) as info:
        make_camera(CaptureConfig(str(tmp_path / "nope.mp4"))).open()
    assert "does not exist" in str(info.value) and info.value.diagnostics["exists"] == "no"
    with pytest.raises(CameraOpenError) as info:
        make_camera(CaptureConfig("/dev/video_missing_for_test", read_timeout_s=0.5)).open()
    diag = info.value.diagnostics
    assert diag["exists"] == "no" and "video_devices" in diag and "V4L2" in diag["opencv_camera_backends"]
    assert "video_devices=" in info.value.describe()


def test_capture_loop_paces_a_file(video):
    frames = []
    loop = CaptureLoop(make_camera(CaptureConfig(str(video), fps=50.0)), frames.append, fps=50.0)
    loop.start()
    wait_until(lambda: len(frames) >= 20, timeout=5.0, what="20 frames")
    assert loop.stop()
    stamps = np.array([f.capture_time for f in frames[:20]])
    rate = 1.0 / np.median(np.diff(stamps))  # the pacing (starvation adds only late outliers)
    assert 45.0 < rate < 55.0, rate
    assert [f.index for f in frames[:20]] == list(range(20))
    assert loop.state is CaptureState.STOPPED and loop.stats.frames >= 20


class FlakySource(CameraSource):
    """A fake device for the failure paths: fails `open_failures` opens, then reads `good` frames and dies."""

    def __init__(self, open_failures: int, good: int = 3) -> None:
        self.open_failures = open_failures
        self.good = good
        self.opens = 0
        self.reads = 0
        self.closed = 0

    def open(self) -> SourceInfo:
        self.opens += 1
        if self.opens <= self.open_failures:
            raise CameraOpenError("cannot open fake device", {"device": "fake"})
        return SourceInfo("fake", 4, 4, 4, 4, 100.0, "fake")

    def read(self) -> np.ndarray:
        self.reads += 1
        if self.reads > self.good:
            raise CameraReadError("fake device unplugged")
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        self.closed += 1


def test_capture_loop_retries_with_a_bound_then_gives_up():
    events = []
    source = FlakySource(open_failures=100)
    loop = CaptureLoop(source, lambda f: None, fps=10.0, on_event=events.append,
                       retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02))
    loop.start()
    wait_until(lambda: not loop.running, timeout=5.0, what="capture loop to give up")
    assert loop.state is CaptureState.FAILED
    assert source.opens == 4  # 1 + 3 retries, then no more attempts
    assert [e.state for e in events] == [CaptureState.RECONNECTING] * 3 + [CaptureState.FAILED]
    assert "giving up" in events[-1].message and "device=fake" in events[-1].message


def test_capture_loop_reconnects_after_read_failure():
    events, frames = [], []
    source = FlakySource(open_failures=1, good=3)
    loop = CaptureLoop(source, frames.append, fps=0.0, on_event=events.append,
                       retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01))
    loop.start()
    wait_until(lambda: not loop.running, timeout=5.0, what="capture loop to give up")
    states = [e.state for e in events]
    # open fails, opens, 3 frames, read fails, re-opens (counts as reconnect), read fails twice more -> gives up
    assert states[:2] == [CaptureState.RECONNECTING, CaptureState.RUNNING]
    assert states[-1] is CaptureState.FAILED
    assert len(frames) == 3 and loop.stats.reconnects >= 1 and loop.stats.read_failures >= 2


def test_calibration_yaml_fov_and_scaling(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: head\n"
        "camera_matrix: {rows: 3, cols: 3, data: [600.0, 0, 320, 0, 610, 240, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0, 0, 0]}\n"
    )
    calib = load_calibration(path)
    assert calib.k[0] == 600.0 and calib.d[:2] == (0.1, -0.2) and calib.p[5] == 610.0
    half = calib.scaled(320, 240)
    assert half.k[0] == 300.0 and half.k[5] == 120.0 and half.p[2] == 160.0
    fov = CameraCalibration.from_fov(640, 480, 90.0)
    assert fov.k[0] == pytest.approx(320.0) and fov.k[4] == fov.k[0]
    path.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    with pytest.raises(ValueError, match="camera_matrix.*9 values"):
        load_calibration(path)
