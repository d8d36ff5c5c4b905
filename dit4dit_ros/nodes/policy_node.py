"""Policy node: ego image + /joint_states + instruction -> /dit4dit/action_chunk.

A thin shell around PolicyRunner (dit4dit_ros/policy/): parameters, QoS, message conversion. Inference runs
in the runner's own thread, so image and state callbacks keep flowing while the model computes. Each chunk
is a JointTrajectory whose header.stamp is the observation (frame capture) time and whose points are spaced
by the checkpoint's control period; the executor places it on the robot clock from that stamp.

Its state goes out as diagnostic_msgs/DiagnosticStatus key/values on /dit4dit/policy/state after every chunk (so
that each chunk's inference time is seen) and every second, and in /diagnostics.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dit4dit_ros.data.topics import (
    DIAGNOSTICS_TOPIC,
    POLICY_STATE_TOPIC,
)
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes.image_conversion import msg_to_image
from dit4dit_ros.engine import UnknownInstructionError
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA, STATE
from dit4dit_ros.nodes.ros_params import ParamSpec, declare_parameters
from dit4dit_ros.nodes.status_msgs import ERROR, OK, WARN, policy_status_msg
from dit4dit_ros.policy.action_limits import ActionLimitGuard
from dit4dit_ros.policy.observation import ObservationBuffer, ObservationConfig
from dit4dit_ros.policy.runner import ChunkResult, PolicyRunner
from dit4dit_ros.utils.param_fields import from_params, param_specs
from dit4dit_ros.utils.stamps import seconds_to_stamp, stamp_to_seconds
from dit4dit_ros.node_params.policy import PolicyNodeParams

NODE_NAME = "policy"

PARAMETERS: tuple[ParamSpec, ...] = (*param_specs(PolicyNodeParams), *param_specs(ObservationConfig))
BLIND_GREY = 128
STATE_TOPIC = POLICY_STATE_TOPIC


def _duration(seconds: float):
    from builtin_interfaces.msg import Duration

    sec, nanosec = seconds_to_stamp(seconds)
    return Duration(sec=sec, nanosec=nanosec)


def chunk_to_msg(chunk: ChunkResult) -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp.sec, msg.header.stamp.nanosec = seconds_to_stamp(chunk.observation_stamp)
    msg.header.frame_id = "policy"
    msg.joint_names = list(chunk.joint_names)
    for k, row in enumerate(chunk.positions):
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in row]
        point.time_from_start = _duration(k * chunk.control_period)
        msg.points.append(point)
    return msg


class PolicyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        p = declare_parameters(self, PARAMETERS)
        from dit4dit_ros.engine import make_engine

        if not p["checkpoint"]:
            raise ValueError("parameter 'checkpoint' must name a checkpoint directory (see models/)")
        options = {"precision": p["precision"]}
        if p["engine"] != "tensorrt":
            options["num_threads"] = p["num_threads"]
        self.engine = make_engine(p["engine"], p["checkpoint"], device=p["device"], **options)
        self.action_guard = self._action_guard(p)
        self.image_size = tuple(self.engine.image_size)  # (H, W)
        self.blind = bool(p["blind"])
        obs_cfg = from_params(ObservationConfig, p, num_frames=self.engine.num_cond_frames)
        self.buffer = ObservationBuffer(obs_cfg, self.engine.state_joint_names)
        self.chunk_pub = self.create_publisher(JointTrajectory, p["chunk_topic"], COMMANDS)
        self.state_pub = self.create_publisher(DiagnosticStatus, STATE_TOPIC, COMMANDS)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.runner = PolicyRunner(
            self.engine, self.buffer, now=self._now, publish=self._publish_chunk,
            action_joint_names=self.engine.action_joint_names, control_period=self.engine.control_period,
            rate_hz=p["rate_hz"], on_skip=self._on_skip,
            noise_seed=None if p["noise_seed"] < 0 else int(p["noise_seed"]),
        )
        self.input_errors = 0
        self.create_subscription(Image, p["image_topic"], self._on_image, SENSOR_DATA)
        # RELIABLE by default (node_params/policy.py joint_states_reliable): images are resent by a lock-stepped
        # simulator, but a joint state lost on a best-effort reader stalled it until its lock-step timeout
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state,
                                 STATE if p["joint_states_reliable"] else SENSOR_DATA)
        self.create_subscription(String, p["instruction_topic"], self._on_instruction, LATCHED)
        self.create_timer(1.0, self._publish_status)
        if p["instruction"]:
            self._set_instruction(p["instruction"])
        self.runner.start()
        self.get_logger().info(
            f"policy ready: engine={p['engine']} ({p['precision']}, {p['device']}) checkpoint={p['checkpoint']} rate={p['rate_hz']} Hz "
            f"horizon={self.engine.horizon} period={self.engine.control_period:.4f}s "
            f"instructions={list(self.engine.instructions)}"
        )

    def _action_guard(self, p: dict) -> ActionLimitGuard:
        """The checkpoint's action range against the joint limits (ValueError in refuse mode: no start)."""
        from pathlib import Path

        from dit4dit_ros.model.checkpoint import NORMALIZATION_FILE
        from dit4dit_ros.model.normalization import NormalizationStats

        path = Path(p["checkpoint"]) / NORMALIZATION_FILE
        stats = NormalizationStats.load(path)
        guard = ActionLimitGuard(self.engine.action_joint_names, stats.action.min, stats.action.max,
                                 mode=p["action_range_check"], tolerance=p["action_range_tolerance"], source=str(path))
        if guard.clamping:
            self.get_logger().error(
                f"{path}: the action range exceeds the joint limits ({'; '.join(guard.problems)}); "
                "action_range_check=clamp: every chunk is clamped to the joint limits")
        return guard

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg: Image) -> None:
        try:
            image = msg_to_image(msg)
            if msg.encoding == "bgr8":
                image = image[..., ::-1]
            elif msg.encoding != "rgb8":
                raise ValueError(f"policy needs rgb8 or bgr8 images, got encoding {msg.encoding!r}")
            if image.shape[:2] != self.image_size:
                import cv2

                image = cv2.resize(image, (self.image_size[1], self.image_size[0]), interpolation=cv2.INTER_AREA)
            if self.blind:
                image = np.full((*self.image_size, 3), BLIND_GREY, dtype=np.uint8)
            self.buffer.add_frame(stamp_to_seconds(msg.header.stamp), np.ascontiguousarray(image))
        except ValueError as exc:
            self.input_errors += 1
            self.get_logger().error(f"dropping image: {exc}", throttle_duration_sec=2.0)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.buffer.add_joint_state(stamp_to_seconds(msg.header.stamp), msg.name, np.asarray(msg.position))
        except (ValueError, IndexError) as exc:
            self.input_errors += 1
            self.get_logger().error(f"dropping joint state: {exc}", throttle_duration_sec=2.0)

    def _on_instruction(self, msg: String) -> None:
        self._set_instruction(msg.data)

    def _set_instruction(self, text: str) -> None:
        try:
            self.runner.set_instruction(text)
            self.get_logger().info(f"instruction: {text!r}")
        except UnknownInstructionError as exc:
            self.get_logger().error(str(exc))

    def _on_skip(self, reason: str) -> None:
        self.get_logger().warning(f"no chunk: {reason}", throttle_duration_sec=2.0)

    def _publish_chunk(self, chunk: ChunkResult) -> None:
        if not self.context.ok():
            return  # shutting down: the inference thread finished a chunk after Ctrl-C; nobody listens
        if self.action_guard.clamping:
            chunk = dataclasses.replace(chunk, positions=self.action_guard.apply(chunk.positions))
        self.chunk_pub.publish(chunk_to_msg(chunk))
        self.state_pub.publish(self.status())

    def status(self) -> DiagnosticStatus:
        """The policy's state: key/values for tools, a one-line message for people."""
        s = self.runner.stats
        state = {
            "instruction": self.runner.instruction or "", "chunks": s.chunks, "skipped": s.skipped, "errors": s.errors,
            "input_errors": self.input_errors, "last_skip_reason": s.last_skip_reason,
            "inference_ms": round(s.last_inference_seconds * 1e3, 3),
            **(s.last_chunk.as_dict() if s.last_chunk is not None else {}),
        }
        if s.errors:
            level, message = ERROR, "inference errors (see log)"
        elif s.last_skip_reason or s.chunks == 0:
            level, message = WARN, s.last_skip_reason or "no chunk yet"
        else:
            level, message = OK, f"running: {s.chunks} chunks, last inference {state['inference_ms']:.0f} ms"
        if self.action_guard.clamping:  # the whole run: a checkpoint that needs clamping is never "OK"
            level = ERROR
            message = f"action range exceeds the joint limits: chunks clamped ({message})"
            state["clamped_points"] = self.action_guard.clamped_points
        return policy_status_msg(state, level, message)

    def _publish_status(self) -> None:
        status = self.status()
        self.state_pub.publish(status)
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    def destroy_node(self) -> None:
        self.runner.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros policy_node` / `python -m dit4dit_ros.nodes.policy_node`."""
    return run_node(PolicyNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
