"""Camera node: an OpenCV device (V4L2/UVC, RealSense colour over UVC) or a video file -> Image + CameraInfo.

A thin shell around dit4dit_ros.camera.CaptureLoop: the loop reads in its own thread and calls back with
each frame; this node stamps it with the capture time on the ROS clock (now minus the time since the grab),
converts it without a copy of the pixels beyond `tobytes()`, and publishes it with the sensor-data QoS
together with a CameraInfo carrying the same stamp. Health (frames, rate, failures, reconnects, silence)
goes to /diagnostics; a device that fails is retried a bounded number of times, then reported as failed
while the node stays up (no crash/respawn loop).
"""
from __future__ import annotations

import sys
import time

from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.node import Node
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from dit4dit_ros.camera import (
    CameraCalibration,
    CaptureConfig,
    CaptureEvent,
    CaptureLoop,
    CaptureState,
    Frame,
    RetryPolicy,
    load_calibration,
    make_camera,
)
from dit4dit_ros.config import ParamSpec
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.image_conversion import camera_info_msg, compressed_topic, image_to_compressed_msg, image_to_msg
from dit4dit_ros.nodes.qos import DIAGNOSTICS, sensor_data_qos
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.utils.param_fields import from_params, param_specs
from dit4dit_ros.utils.streams import RateMeter, StreamState, StreamWatch
from dit4dit_ros.node_params.camera import COLOR_OF_ENCODING, CameraPublishParams

NODE_NAME = "camera"

PARAMETERS: tuple[ParamSpec, ...] = (
    # source, source_type, width, height, fps, loop, fourcc, backend, read_timeout_s (camera/config.py)
    *param_specs(CaptureConfig, defaults={"width": 640, "height": 480}),
    *param_specs(CameraPublishParams),
)


class CameraNode(Node):
    """Publishes frames of one camera source (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.encoding = p["encoding"]
        self.camera_config = from_params(CaptureConfig, p, color=COLOR_OF_ENCODING[self.encoding])
        retry = RetryPolicy(p["max_reconnect_attempts"], p["reconnect_backoff_s"],
                            max(p["reconnect_backoff_s"], p["reconnect_backoff_max_s"]))
        self._base_calibration = load_calibration(p["calibration_file"]) if p["calibration_file"] else None
        self._info_template: CameraInfo | None = None
        self.image_pub = self.create_publisher(Image, p["image_topic"], sensor_data_qos(p["qos_depth"]))
        self.info_pub = self.create_publisher(CameraInfo, p["camera_info_topic"], sensor_data_qos(p["qos_depth"]))
        self.compressed_pub = (self.create_publisher(CompressedImage, compressed_topic(p["image_topic"]),
                                                     sensor_data_qos(p["qos_depth"])) if p["jpeg_quality"] else None)
        self.diag_pub = self.create_publisher(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        self.rate = RateMeter(window_s=2.0)
        self.watch = StreamWatch(p["stale_timeout_s"])
        self.published = 0
        self.last_event: CaptureEvent | None = None
        self.loop = CaptureLoop(make_camera(self.camera_config), self._on_frame, fps=p["fps"], retry=retry,
                                on_event=self._on_event)
        # Steady clock: health must be checked even when a simulated /clock stops.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(min(p["diagnostics_period_s"], p["stale_timeout_s"] / 2), self._check_health,
                          clock=self._steady)
        self._last_diag = 0.0
        self.loop.start()

    # -- capture thread ----------------------------------------------------------------------------------
    def _calibration(self, width: int, height: int) -> CameraCalibration:
        p = self.p
        if self._base_calibration is not None:
            if (self._base_calibration.width, self._base_calibration.height) != (width, height):
                self.get_logger().warning(
                    f"calibration {p['calibration_file']} is for {self._base_calibration.width}x"
                    f"{self._base_calibration.height}; scaling intrinsics to {width}x{height}")
            return self._base_calibration.scaled(width, height)
        if p["fx"] > 0:
            fy = p["fy"] if p["fy"] > 0 else p["fx"]
            cx = p["cx"] if p["cx"] >= 0 else (width - 1) / 2.0
            cy = p["cy"] if p["cy"] >= 0 else (height - 1) / 2.0
            return CameraCalibration.from_intrinsics(width, height, p["fx"], fy, cx, cy, p["distortion"],
                                                     p["distortion_model"])
        return CameraCalibration.from_fov(width, height, p["horizontal_fov_deg"])

    def _camera_info(self, width: int, height: int) -> CameraInfo:
        if self._info_template is None or (self._info_template.width, self._info_template.height) != (width, height):
            c = self._calibration(width, height)
            d = c.d if self._base_calibration is not None or self.p["fx"] > 0 else self.p["distortion"]
            self._info_template = camera_info_msg(width, height, c.k, d, c.distortion_model, c.r, c.p,
                                                  frame_id=self.p["frame_id"])
        return self._info_template

    def _on_frame(self, frame: Frame) -> None:
        # Capture time on the ROS clock: now, minus how long ago the frame was grabbed.
        age = max(0.0, time.monotonic() - frame.capture_time)
        stamp = (self.get_clock().now() - Duration(nanoseconds=int(age * 1e9))).to_msg()
        msg = image_to_msg(frame.image, self.encoding, stamp=stamp, frame_id=self.p["frame_id"])
        info = self._camera_info(msg.width, msg.height)
        info.header.stamp = stamp
        self.image_pub.publish(msg)
        self.info_pub.publish(info)
        if self.compressed_pub is not None and self.encoding in ("rgb8", "bgr8", "mono8"):
            self.compressed_pub.publish(image_to_compressed_msg(frame.image, self.encoding, self.p["jpeg_quality"],
                                                               stamp, self.p["frame_id"]))
        self.published += 1
        self.rate.tick(frame.capture_time)
        transition = self.watch.sample(frame.capture_time)
        if transition is not None and transition.previous is StreamState.STALE:
            self.get_logger().info(f"camera frames are back after {transition.gap:.2f} s of silence")

    def _on_event(self, event: CaptureEvent) -> None:
        self.last_event = event
        log = self.get_logger()
        if event.state is CaptureState.RUNNING:
            log.info(event.message)
        elif event.state is CaptureState.RECONNECTING:
            log.warning(event.message)
        elif event.state is CaptureState.FAILED:
            log.error(event.message + " - the node stays up and reports ERROR on /diagnostics; fix the "
                      "device and restart the node")
        else:
            log.info(event.message)
        self._publish_diagnostics()

    # -- health ----------------------------------------------------------------------------------------
    def _check_health(self) -> None:
        now = time.monotonic()
        transition = self.watch.check(now)
        if transition is not None:
            self.get_logger().warning(
                f"no camera frame for {transition.silent_for:.2f} s (stale_timeout_s={self.watch.timeout_s}); "
                f"capture state {self.loop.state.value}")
            self._publish_diagnostics()
        elif now - self._last_diag >= self.p["diagnostics_period_s"]:
            self._publish_diagnostics()

    def diagnostic(self) -> diag.DiagnosticStatus:
        now = time.monotonic()
        state = self.loop.state
        stats = self.loop.stats
        if state is CaptureState.FAILED:
            level, message = diag.ERROR, "camera failed: " + (self.last_event.message if self.last_event else "")
        elif state is CaptureState.RECONNECTING:
            level, message = diag.WARN, "camera reconnecting"
        elif self.watch.state is StreamState.STALE:
            level, message = diag.STALE, f"no frame for {self.watch.age(now):.2f} s"
        elif state is CaptureState.FINISHED:
            level, message = diag.OK, "video file finished"
        elif self.watch.state is StreamState.WAITING:
            level, message = diag.WARN, "waiting for the first frame"
        else:
            level, message = diag.OK, "streaming"
        age = self.watch.age(now)
        info = self.loop.info
        values = {
            "state": state.value,
            "source": self.camera_config.source,
            "published": self.published,
            "rate_hz": self.rate.rate(now),
            "target_fps": self.p["fps"],
            "skipped_for_rate": stats.skipped,
            "read_failures": stats.read_failures,
            "open_failures": stats.open_failures,
            "reconnects": stats.reconnects,
            "last_frame_age_s": -1.0 if age is None else age,
            "size": f"{info.width}x{info.height}" if info else "?",
            "last_error": self.loop.last_error.describe() if self.loop.last_error else "",
        }
        return diag.diagnostic_status(f"{self.get_name()}: {self.p['image_topic']}", level, message,
                                      hardware_id=self.camera_config.source, values=values)

    def _publish_diagnostics(self) -> None:
        self._last_diag = time.monotonic()
        self.diag_pub.publish(diag.diagnostic_array(self.get_clock().now().to_msg(), self.diagnostic()))

    def destroy_node(self) -> None:
        if not self.loop.stop(timeout=self.p["read_timeout_s"] + 1.0):
            self.get_logger().warning("camera capture thread did not stop in time (blocked in the driver)")
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros camera_node` / `python -m dit4dit_ros.nodes.camera_node`."""
    return run_node(CameraNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
