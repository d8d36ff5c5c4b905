"""Live graph -> Rerun (`dit4dit monitor --rerun [--web]`): what RViz shows, in a viewer that also runs in a browser.

Subscribes to the graph's public topics and logs them on the `ros_time` timeline (the messages' stamps: simulation
time in simulation):
- /joint_states: the robot's meshes posed by MuJoCo's kinematics of the G1 model (monitor/rerun_view.py), and the
  measured joints as time series (/plots/joints/<joint>/measured);
- /dit4dit/executor/command: the commanded joints beside them (/plots/joints/<joint>/commanded);
- /tf from the world frame: the scene's objects (cube, target) when the simulator publishes them;
- the ego camera's JPEG stream in the head camera's frustum, the third-person scene view when there is one;
- /dit4dit/action_chunk: each chunk's predicted palm paths (/world/g1/pelvis/predicted_paths), chunk rate and
  observation-to-receipt latency (/plots/chunks/...);
- the policy's state (inference time), the task status (distance to target), the executor's mode and events (/log).
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

from dit4dit_ros.data.topics import (
    ACTION_CHUNK_TOPIC,
    COMMAND_TOPIC,
    JOINT_STATES_TOPIC,
    POLICY_STATE_TOPIC,
    SIM_TASK_TOPIC,
    TF_TOPIC,
)
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
from dit4dit_ros.utils.stamps import stamp_to_seconds

APPLICATION_ID = "dit4dit_live"
POSE_PERIOD = 0.05  # s of message time between two logged robot poses (20 Hz is smooth; 500 Hz would flood)


def _stamp(msg: Any) -> float:
    return stamp_to_seconds(msg.header.stamp)


class RerunBridge:
    """Subscribes on `node` and logs into the recording stream `rec` (see module docstring)."""

    def __init__(self, node: Any, rec: Any, scene: str = "sim", plot_joints: tuple[str, ...] | None = None) -> None:
        import rerun as rr
        from diagnostic_msgs.msg import DiagnosticStatus
        from sensor_msgs.msg import CompressedImage, JointState
        from tf2_msgs.msg import TFMessage
        from trajectory_msgs.msg import JointTrajectory

        from dit4dit_ros.g1.joints import ARMS
        from dit4dit_ros.g1.kinematics import HandKinematics
        from dit4dit_ros.monitor.rerun_view import RerunRobotView
        from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TOPIC, EXECUTOR_STATE_TYPE
        from dit4dit_ros.nodes.tf_publishing import TF_QOS

        if scene == "sim":
            from dit4dit_ros.sim.scene import build_model

            model = build_model()
        elif scene == "robot":
            from dit4dit_ros.g1.model import build_robot_model

            model = build_robot_model()
        else:
            raise ValueError(f"scene must be 'sim' (robot at the table) or 'robot' (the robot alone), got {scene!r}")
        self._rr, self.node, self.rec = rr, node, rec
        self.view = RerunRobotView(rec, model)
        self.view.log_static()
        self.kinematics = HandKinematics()
        self.plot_joints = set(plot_joints if plot_joints is not None else ARMS)
        self.objects: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.joints: dict[str, float] = {}
        self._last_pose = -np.inf
        self._camera_logged = False
        self._chunk_times: deque[float] = deque(maxlen=50)
        self._mode: str | None = None
        self._chunks_seen: Any = None
        self.counts = {"joint_states": 0, "chunks": 0, "images": 0}
        node.create_subscription(JointState, JOINT_STATES_TOPIC, self._on_joint_states, SENSOR_DATA)
        node.create_subscription(JointState, COMMAND_TOPIC, self._on_command, SENSOR_DATA)
        node.create_subscription(TFMessage, TF_TOPIC, self._on_tf, TF_QOS)
        node.create_subscription(CompressedImage, "/camera/ego/image_raw/compressed", self._on_ego, SENSOR_DATA)
        node.create_subscription(CompressedImage, "/camera/scene/image_raw/compressed", self._on_scene, SENSOR_DATA)
        node.create_subscription(JointTrajectory, ACTION_CHUNK_TOPIC, self._on_chunk, COMMANDS)
        node.create_subscription(DiagnosticStatus, POLICY_STATE_TOPIC, self._on_policy, COMMANDS)
        node.create_subscription(DiagnosticStatus, SIM_TASK_TOPIC, self._on_task, LATCHED)
        node.create_subscription(EXECUTOR_STATE_TYPE, EXECUTOR_STATE_TOPIC, self._on_executor, SENSOR_DATA)

    def _at(self, t: float) -> None:
        self.rec.set_time("ros_time", duration=t)

    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    # ---- robot ------------------------------------------------------------------------------------------------
    def _on_joint_states(self, msg) -> None:
        rr = self._rr
        t = _stamp(msg)
        self.joints.update(zip(msg.name, msg.position))
        self.counts["joint_states"] += 1
        if abs(t - self._last_pose) < POSE_PERIOD:
            return
        self._last_pose = t
        self._at(t)
        self.view.pose(self.joints, self.objects)
        self.view.log_poses()
        for name, value in zip(msg.name, msg.position):
            if name in self.plot_joints:
                self.rec.log(f"/plots/joints/{name}/measured", rr.Scalars(float(value)))

    def _on_command(self, msg) -> None:
        rr = self._rr
        self._at(_stamp(msg))
        for name, value in zip(msg.name, msg.position):
            if name in self.plot_joints:
                self.rec.log(f"/plots/joints/{name}/commanded", rr.Scalars(float(value)))

    def _on_tf(self, msg) -> None:
        for t in msg.transforms:
            if t.header.frame_id == "world":
                tr, q = t.transform.translation, t.transform.rotation
                self.objects[t.child_frame_id] = (np.array([tr.x, tr.y, tr.z]), np.array([q.w, q.x, q.y, q.z]))

    # ---- cameras ----------------------------------------------------------------------------------------------
    def _on_ego(self, msg) -> None:
        rr = self._rr
        from dit4dit_ros.nodes.image_conversion import compressed_msg_to_image

        self._at(_stamp(msg))
        image = compressed_msg_to_image(msg)
        if not self._camera_logged:  # the frustum needs the image size
            self.view.log_camera(image.shape[:2])
            self._camera_logged = True
        self.rec.log(self.view.camera_path, rr.EncodedImage(contents=bytes(msg.data), media_type="image/jpeg"))
        self.counts["images"] += 1

    def _on_scene(self, msg) -> None:
        self._at(_stamp(msg))
        self.rec.log("/camera/scene", self._rr.EncodedImage(contents=bytes(msg.data), media_type="image/jpeg"))

    # ---- policy, task, executor -----------------------------------------------------------------------------------
    def _on_chunk(self, msg) -> None:
        rr = self._rr
        t = _stamp(msg)
        now = self._now()
        self.counts["chunks"] += 1
        self._chunk_times.append(time.monotonic())
        self._at(now)
        if len(self._chunk_times) >= 2:
            span = self._chunk_times[-1] - self._chunk_times[0]
            if span > 0:
                self.rec.log("/plots/chunks/rate_hz", rr.Scalars((len(self._chunk_times) - 1) / span))
        self.rec.log("/plots/chunks/obs_to_receipt_ms", rr.Scalars((now - t) * 1e3))
        if not msg.points:
            return
        positions = np.array([p.positions for p in msg.points])
        try:
            paths = self.kinematics.site_paths(list(msg.joint_names), positions, base=self.joints)
        except ValueError:
            return
        self.rec.log("/world/g1/pelvis/predicted_paths",
                     rr.LineStrips3D(list(paths), colors=[(30, 130, 255), (255, 110, 30)], radii=0.004))

    def _on_policy(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import values_of

        values = values_of(msg)
        if values.get("chunks") != self._chunks_seen and isinstance(values.get("inference_ms"), float):
            self._chunks_seen = values.get("chunks")
            self._at(self._now())
            self.rec.log("/plots/policy/inference_ms", self._rr.Scalars(values["inference_ms"]))

    def _on_task(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import task_status_from_msg

        try:
            sample = task_status_from_msg(msg)
        except ValueError:
            return
        self._at(sample.sim_time if sample.sim_time is not None else self._now())
        for key, value in sample.status.metrics.items():
            if isinstance(value, float):
                self.rec.log(f"/plots/task/{key}", self._rr.Scalars(value))
        self.rec.log("/plots/task/success", self._rr.Scalars(float(sample.status.success)))

    def _on_executor(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import executor_state

        state = executor_state(msg)
        mode = str(state.get("mode", "?"))
        if mode != self._mode:
            rr = self._rr
            self._at(self._now())
            level = rr.TextLogLevel.INFO if mode in ("RUNNING", "HOLD", "SOFT_START", "DISABLED") else rr.TextLogLevel.WARN
            reason = state.get("reason") or state.get("last_reason") or ""
            self.rec.log("/log/executor", rr.TextLog(f"executor {self._mode} -> {mode} {reason}".strip(), level=level))
            self._mode = mode
