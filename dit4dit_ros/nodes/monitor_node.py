"""Monitor node: action chunks -> RViz markers of the predicted hand paths, and chunk-timing diagnostics.

Subscribes /dit4dit/action_chunk, /joint_states, the executor's state and the ego camera_info; publishes
/dit4dit/markers (MarkerArray): in the pelvis frame one line strip per palm for each of the last `history` chunks,
coloured by age (newest bright and opaque, older fading), a text with rate and observation-to-receipt latency and a
text with the executor's mode; in the camera's optical frame (the TF tree of robot_state) the ego camera's frustum.
A /diagnostics status warns when chunks are late or stop. Pure observation: it never commands anything.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, JointState
from std_msgs.msg import ColorRGBA
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from dit4dit_ros.data.topics import (
    DIAGNOSTICS_TOPIC,
)
from dit4dit_ros.g1.kinematics import PALM_SITES, HandKinematics
from dit4dit_ros.monitor.chunk_input import chunk_positions
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
from dit4dit_ros.nodes.ros_params import ParamSpec, declare_parameters
from dit4dit_ros.utils.param_fields import param_specs
from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TYPE, executor_state
from dit4dit_ros.utils.stamps import stamp_to_seconds
from dit4dit_ros.node_params.monitor import MonitorParams

NODE_NAME = "monitor"

PARAMETERS: tuple[ParamSpec, ...] = param_specs(MonitorParams)

_COLORS = (ColorRGBA(r=0.1, g=0.5, b=1.0, a=1.0), ColorRGBA(r=1.0, g=0.4, b=0.1, a=1.0))


def frustum_marker(info: CameraInfo, depth: float) -> Marker:
    """The camera's field of view as a LINE_LIST pyramid `depth` m deep, in the camera's optical frame."""
    fx, fy, cx, cy = info.k[0], info.k[4], info.k[2], info.k[5]
    corners = [((u - cx) / fx * depth, (v - cy) / fy * depth, depth)
               for u, v in ((0, 0), (info.width, 0), (info.width, info.height), (0, info.height))]
    m = Marker(ns="dit4dit/camera_frustum", id=200, type=Marker.LINE_LIST, action=Marker.ADD)
    m.header.frame_id = info.header.frame_id
    m.pose.orientation.w = 1.0
    m.scale.x = 0.004
    m.color = ColorRGBA(r=1.0, g=1.0, b=0.2, a=0.9)
    points = []
    for k, c in enumerate(corners):
        points += [(0.0, 0.0, 0.0), c, c, corners[(k + 1) % 4]]
    m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
    return m


class MonitorNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.kinematics = HandKinematics()
        self.measured: dict[str, float] = {}
        self.receipts: deque[float] = deque(maxlen=200)
        self.paths: deque[np.ndarray] = deque(maxlen=p["history"])  # newest last
        self.mode = "-"
        self.latencies: deque[float] = deque(maxlen=200)
        self.marker_pub = self.create_publisher(MarkerArray, p["markers_topic"], LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.create_subscription(JointTrajectory, p["chunk_topic"], self._on_chunk, COMMANDS)
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state, SENSOR_DATA)
        self.create_subscription(EXECUTOR_STATE_TYPE, p["executor_state_topic"], self._on_executor_state, SENSOR_DATA)
        self.create_subscription(CameraInfo, p["camera_info_topic"], self._on_camera_info, SENSOR_DATA)
        self._frustum_frame = ""
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)

    def _on_joint_state(self, msg: JointState) -> None:
        # Only finite values: one NaN in the base pose would turn every drawn path into NaN.
        self.measured = {n: float(v) for n, v in zip(msg.name, msg.position) if np.isfinite(v)}

    def _on_executor_state(self, msg: Any) -> None:
        mode = str(executor_state(msg).get("mode", "?"))
        if mode != self.mode:
            self.mode = mode
            out = MarkerArray(markers=[self._mode_marker(self.get_clock().now().to_msg())])
            self.marker_pub.publish(out)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if msg.header.frame_id == self._frustum_frame or msg.k[0] <= 0:
            return  # one frustum per camera frame: the calibration does not change while running
        self._frustum_frame = msg.header.frame_id
        self.marker_pub.publish(MarkerArray(markers=[frustum_marker(msg, self.p["frustum_depth_m"])]))

    def _on_chunk(self, msg: JointTrajectory) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        self.receipts.append(time.monotonic())
        self.latencies.append(now - stamp_to_seconds(msg.header.stamp))
        if not msg.points:
            return
        try:
            positions = chunk_positions(list(msg.joint_names), [pt.positions for pt in msg.points])
            paths = self.kinematics.site_paths(list(msg.joint_names), positions, base=self.measured)
        except ValueError as exc:
            self.get_logger().error(f"cannot draw chunk: {exc}", throttle_duration_sec=5.0)
            return
        self.paths.append(paths)
        self.marker_pub.publish(self.markers(paths, msg))

    def markers(self, paths: np.ndarray, msg: JointTrajectory) -> MarkerArray:
        """Every kept chunk's palm paths (id = 10 * age + palm), the timing text and the mode text."""
        out = MarkerArray()
        stamp = self.get_clock().now().to_msg()
        history = list(self.paths) or [paths]
        for age, chunk_paths in enumerate(reversed(history)):
            fade = 1.0 - age / (self.p["history"] + 1)
            for i, (site, path) in enumerate(zip(PALM_SITES, chunk_paths)):
                m = Marker(ns="dit4dit/hand_paths", id=10 * age + i, type=Marker.LINE_STRIP, action=Marker.ADD)
                m.header.frame_id, m.header.stamp = self.p["frame_id"], stamp
                m.scale.x = 0.008 if age == 0 else 0.004
                base = _COLORS[i % len(_COLORS)]
                m.color = ColorRGBA(r=base.r * fade + 0.5 * (1 - fade), g=base.g * fade + 0.5 * (1 - fade),
                                    b=base.b * fade + 0.5 * (1 - fade), a=max(0.15, fade))
                m.pose.orientation.w = 1.0
                m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in path]
                out.markers.append(m)
        text = Marker(ns="dit4dit/timing", id=100, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        text.header.frame_id, text.header.stamp = self.p["frame_id"], stamp
        text.pose.position.z = 0.7
        text.pose.orientation.w = 1.0
        text.scale.z = 0.05
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        rate, latency = self.chunk_rate(), (self.latencies[-1] if self.latencies else float("nan"))
        text.text = f"chunks {rate:.1f} Hz, obs->chunk {latency * 1e3:.0f} ms"
        out.markers.append(text)
        out.markers.append(self._mode_marker(stamp))
        return out

    def _mode_marker(self, stamp) -> Marker:
        text = Marker(ns="dit4dit/executor_mode", id=101, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        text.header.frame_id, text.header.stamp = self.p["frame_id"], stamp
        text.pose.position.z = 0.78
        text.pose.orientation.w = 1.0
        text.scale.z = 0.06
        running = self.mode == "RUNNING"
        text.color = ColorRGBA(r=0.2 if running else 1.0, g=1.0 if running else 0.6, b=0.2, a=1.0)
        text.text = f"executor {self.mode}"
        return text

    def chunk_rate(self, window: float = 3.0) -> float:
        now = time.monotonic()
        recent = [t for t in self.receipts if now - t <= window]
        return len(recent) / window

    def _publish_diagnostics(self) -> None:
        rate = self.chunk_rate()
        lat = float(np.median(self.latencies)) if self.latencies else float("nan")
        status = DiagnosticStatus(name="dit4dit/monitor/chunks", hardware_id="policy")
        if not self.receipts:
            status.level, status.message = DiagnosticStatus.WARN, "no action chunk received yet"
        elif rate < 0.8 * self.p["expected_rate_hz"]:
            status.level, status.message = DiagnosticStatus.WARN, f"chunk rate {rate:.1f} Hz below expected"
        elif lat > self.p["max_latency_s"]:
            status.level, status.message = DiagnosticStatus.WARN, f"chunk latency {lat * 1e3:.0f} ms too high"
        else:
            status.level, status.message = DiagnosticStatus.OK, "chunks on time"
        status.values = [KeyValue(key="rate_hz", value=f"{rate:.2f}"), KeyValue(key="latency_p50_s", value=f"{lat:.4f}")]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros monitor_node` / `python -m dit4dit_ros.nodes.monitor_node`."""
    return run_node(MonitorNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
