"""Sim robot node: the MuJoCo G1 (dit4dit_ros/sim/) on DDS, plus its ROS side.

Unitree DDS (CycloneDDS, like the real robot): rt/lowcmd + rt/arm_sdk in, rt/lowstate out at 500 Hz.
ROS: /camera/ego/image_raw (sensor_msgs/Image rgb8, sensor-data QoS) and its JPEG stream .../compressed,
/camera/ego/camera_info, optionally the third-person /camera/scene/image_raw (+ /compressed), /clock
(rosgraph_msgs/Clock: run the other nodes with use_sim_time:=true), /dit4dit/sim/task (diagnostic_msgs/
DiagnosticStatus key/values: the TaskStatus plus the robot's control mode and command counters, latched; see
nodes/status_msgs.py), /tf (world -> cube and target) and /tf_static (world -> pelvis: the robot's stand),
service /dit4dit/sim/reset (std_srvs/Trigger: the k-th reset uses seed + k; the response message is the new
status line), and in lock-step mode the acknowledgements: a std_msgs/Header
on /dit4dit/sim/frame_ack (the consumer republishes the header of the frame it took), or an action chunk on
`lockstep_chunk_topic` (trajectory_msgs/JointTrajectory; the policy stamps each chunk with the time of the
frame it was computed from, so the simulation waits for the policy's answer to each frame).

The physics loop runs in its own thread (SimLoop); this node only converts and publishes. Images and the
clock carry the simulation time of the state they show. The physics thread writes LowState (CycloneDDS, to
best-effort readers) and nothing else: /clock, the task status and the object frames go through a RosOutbox
(nodes/outbox.py), so a hung ROS subscriber can never stall the simulated robot.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import numpy as np
import rclpy
import rclpy.executors
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.data.topics import (CAMERA_INFO_TOPIC, CLOCK_TOPIC, IMAGE_TOPIC, SCENE_IMAGE_TOPIC, SIM_FRAME_ACK_TOPIC,
                                     SIM_RESET_SERVICE, SIM_TASK_TOPIC)
from dit4dit_ros.nodes.image_conversion import camera_info_msg, compressed_topic, image_to_compressed_msg, image_to_msg
from dit4dit_ros.nodes.outbox import RosOutbox
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.nodes.status_msgs import task_status_to_msg
from dit4dit_ros.nodes.tf_publishing import ObjectFramePublisher
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.utils.dds_transport import configure_ros_transport
from dit4dit_ros.sim.dds_bridge import SimDdsBridge
from dit4dit_ros.sim.loop import LoopStats, SimLoop
from dit4dit_ros.sim.params import (
    SIM_ROBOT_PARAMETERS,
    bridge_config_from_values,
    configs_from_values,
    realtime_from_values,
)
from dit4dit_ros.utils.realtime import apply_realtime
from dit4dit_ros.sim.robot import SimRobot
from dit4dit_ros.sim.scene import camera_intrinsics
from dit4dit_ros.sim.tasks import TaskStatus
from dit4dit_ros.utils.stamps import seconds_to_stamp, stamp_to_seconds

LOG = logging.getLogger(__name__)
NODE_NAME = "sim_robot"
CAMERA_FRAME_ID = "head_camera_optical_frame"
SCENE_FRAME_ID = "scene_camera"
PARAMETERS = SIM_ROBOT_PARAMETERS  # read by the parameter-file checker (nodes/ros_params.node_parameter_specs)
RESET_TIMEOUT = 10.0  # wall s for the loop thread to carry out a reset


def to_time_msg(seconds: float) -> Time:
    sec, nanosec = seconds_to_stamp(seconds)
    return Time(sec=sec, nanosec=nanosec)


class SimRobotNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, SIM_ROBOT_PARAMETERS)
        robot_cfg, loop_cfg, seed = configs_from_values(self.params)
        self._seed0 = seed
        self._episode = 0
        self.robot = SimRobot(robot_cfg, seed=seed)
        self.bridge = SimDdsBridge(self.robot, config=bridge_config_from_values(self.params))
        self.loop = SimLoop(self.robot, loop_cfg, sinks=[self.bridge, self])
        self._image_pub = self.create_publisher(Image, IMAGE_TOPIC, SENSOR_DATA)
        self._info_pub = self.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, SENSOR_DATA)
        self._clock_pub = self.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self._task_pub = self.create_publisher(DiagnosticStatus, SIM_TASK_TOPIC, LATCHED)
        self._jpeg_quality = int(self.params["jpeg_quality"])
        self._compressed_pub = (self.create_publisher(CompressedImage, compressed_topic(IMAGE_TOPIC), SENSOR_DATA)
                                if self._jpeg_quality else None)
        self._scene_pub = self._scene_compressed_pub = None
        if loop_cfg.scene_camera is not None:
            self._scene_pub = self.create_publisher(Image, SCENE_IMAGE_TOPIC, SENSOR_DATA)
            if self._jpeg_quality:
                self._scene_compressed_pub = self.create_publisher(CompressedImage, compressed_topic(SCENE_IMAGE_TOPIC),
                                                                   SENSOR_DATA)
        self._objects = ObjectFramePublisher(self, self.robot.model)
        self._reset_srv = self.create_service(Trigger, SIM_RESET_SERVICE, self._on_reset)
        self._ack_sub = self.create_subscription(Header, SIM_FRAME_ACK_TOPIC, self._on_ack, COMMANDS)
        if loop_cfg.lockstep and self.params["lockstep_chunk_topic"]:
            self._chunk_sub = self.create_subscription(JointTrajectory, self.params["lockstep_chunk_topic"],
                                                       self._on_ack, COMMANDS)
        cam = loop_cfg.camera
        self._info = None
        if cam is not None:
            k = camera_intrinsics(cam.width, cam.height, robot_cfg.scene.camera_fovy_deg)
            self._info = camera_info_msg(cam.width, cam.height, k.ravel().tolist(), d=[0.0] * 5,
                                         frame_id=CAMERA_FRAME_ID)
        self._image_msg = Image()
        self._outbox = RosOutbox("sim-ros-out")
        duration = float(self.params["duration"]) or None
        self.stats: LoopStats | None = None
        self._thread = threading.Thread(target=self._run_loop, args=(duration,), name="sim-loop", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"sim robot running: task {robot_cfg.task}, camera {'off' if cam is None else f'{cam.width}x{cam.height}@{cam.rate_hz}Hz'}"
            f", {'lock-step' if loop_cfg.lockstep else f'real time x{loop_cfg.real_time_factor}'}")

    # ------------------------------------------------------------ loop thread
    def _run_loop(self, duration: float | None) -> None:
        apply_realtime(realtime_from_values(self.params), "sim robot physics + LowState loop")
        try:
            self.stats = self.loop.run(duration)
        except Exception:  # the node must notice and exit instead of serving a frozen robot
            LOG.exception("sim loop failed")
            raise

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self.loop.stop()
        self._thread.join(timeout=10.0)
        self._outbox.close()
        self.bridge.close()

    # ------------------------------------------------------------ SimSink
    def on_state(self, robot: SimRobot) -> None:
        pass  # LowState goes out on DDS (SimDdsBridge)

    def on_clock(self, sim_time: float) -> None:  # physics thread: post only
        self._outbox.post("clock", lambda: self._clock_pub.publish(Clock(clock=to_time_msg(sim_time))))

    def on_frame(self, image: np.ndarray, sim_time: float) -> None:
        stamp = to_time_msg(sim_time)
        msg = image_to_msg(image, "rgb8", stamp=stamp, frame_id=CAMERA_FRAME_ID, msg=self._image_msg)
        self._image_pub.publish(msg)
        if self._compressed_pub is not None:
            self._compressed_pub.publish(image_to_compressed_msg(image, "rgb8", self._jpeg_quality, stamp, CAMERA_FRAME_ID))
        if self._info is not None:
            self._info.header.stamp = stamp
            self._info_pub.publish(self._info)

    def on_scene_frame(self, image: np.ndarray, sim_time: float) -> None:
        stamp = to_time_msg(sim_time)
        self._scene_pub.publish(image_to_msg(image, "rgb8", stamp=stamp, frame_id=SCENE_FRAME_ID))
        if self._scene_compressed_pub is not None:
            self._scene_compressed_pub.publish(image_to_compressed_msg(image, "rgb8", self._jpeg_quality, stamp,
                                                                       SCENE_FRAME_ID))

    def on_task(self, status: TaskStatus) -> None:  # physics thread: snapshot and post only
        # control mode + command counters (bad CRC, timeouts, ...) beside the task's own status
        robot_status, frames, stamp = self.robot.robot_status(), self._objects.frames(self.robot.data), self.robot.time

        def publish() -> None:
            self._task_pub.publish(task_status_to_msg(status, robot_status))
            self._objects.publish_frames(frames, to_time_msg(stamp))

        self._outbox.post("task", publish)

    # ------------------------------------------------------------ ROS callbacks
    def _on_ack(self, msg: Header | JointTrajectory) -> None:
        stamp = msg.stamp if isinstance(msg, Header) else msg.header.stamp
        self.loop.acknowledge(stamp_to_seconds(stamp))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._episode += 1
        seed = self._seed0 + self._episode
        if not self.running:
            response.success, response.message = False, "the simulation loop is not running"
            return response
        done = self.robot.request_reset(seed, timeout=RESET_TIMEOUT)
        response.success = bool(done)
        response.message = (task_status_to_msg(self.robot.task_status()).message if done
                            else f"reset to seed {seed} timed out")
        return response


def run(parameter_overrides: list[Parameter] | None = None, args: list[str] | None = None) -> int:
    """Start rclpy, run the node until SIGINT/SIGTERM or its `duration`, shut down cleanly. Returns 0."""
    stop = threading.Event()
    configure_ros_transport()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    link = connect_supervisor(NODE_NAME)  # supervisor dead or hung -> SIGTERM -> stop
    node = None
    try:
        node = SimRobotNode(parameter_overrides=parameter_overrides or [])
        beat_from(node, link)
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and node.running:
            executor.spin_once(timeout_sec=0.1)
        if node.stats is not None:
            s = node.stats
            LOG.info("sim robot stopped: %.2f s simulated in %.2f s wall (RTF %.2f), %d frames, %d LowState",
                     s.sim_end - s.sim_start, s.wall_end - s.wall_start, s.real_time_factor, s.frames,
                     node.bridge.published)
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(args: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args=args if args is not None else sys.argv)


if __name__ == "__main__":
    sys.exit(main())
