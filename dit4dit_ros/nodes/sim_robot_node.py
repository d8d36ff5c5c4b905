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

The physics runs in a process of its own without rclpy (sim/core_process.py; sim/core_link.py says why): it
writes LowState and takes LowCmd on CycloneDDS, renders the cameras and sends the clock, frames, task status and
object frames through a pipe. This node only converts and publishes them, and forwards acknowledgements and resets;
when it hangs, the simulated robot keeps going. Images and the clock carry the simulation time of the state they
show.
"""
from __future__ import annotations

import logging
import sys
import threading
from typing import Any

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
                                     SIM_RELEASE_SERVICE, SIM_RESET_SERVICE, SIM_TASK_TOPIC)
from dit4dit_ros.nodes.image_conversion import camera_info_msg, compressed_topic, image_to_compressed_msg, image_to_msg
from dit4dit_ros.nodes.qos import COMMANDS, SENSOR_DATA, TASK_STATUS
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.nodes.status_msgs import task_status_to_msg
from dit4dit_ros.nodes.tf_publishing import ObjectFramePublisher
from dit4dit_ros.nodes.spin import configure_node_transport
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.sim.core_link import SimCoreClient
from dit4dit_ros.sim.params import SIM_ROBOT_PARAMETERS, configs_from_values
from dit4dit_ros.sim.scene import camera_intrinsics
from dit4dit_ros.utils.stamps import seconds_to_stamp, stamp_to_seconds
from dit4dit_ros.utils.process_life import stop_on_signals

LOG = logging.getLogger(__name__)
NODE_NAME = "sim_robot"
CAMERA_FRAME_ID = "head_camera_optical_frame"
SCENE_FRAME_ID = "scene_camera"
PARAMETERS = SIM_ROBOT_PARAMETERS  # read by the parameter-file checker (nodes/ros_params.node_parameter_specs)
RESET_TIMEOUT = 12.0  # wall s for the physics process to carry out a reset and answer


def to_time_msg(seconds: float) -> Time:
    sec, nanosec = seconds_to_stamp(seconds)
    return Time(sec=sec, nanosec=nanosec)


class SimRobotNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, SIM_ROBOT_PARAMETERS)
        robot_cfg, loop_cfg, seed = configs_from_values(self.params)  # validated here, before a process starts
        self._seed0 = seed
        self._episode = 0
        self._image_pub = self.create_publisher(Image, IMAGE_TOPIC, SENSOR_DATA)
        self._info_pub = self.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, SENSOR_DATA)
        self._clock_pub = self.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self._task_pub = self.create_publisher(DiagnosticStatus, SIM_TASK_TOPIC, TASK_STATUS)
        self._jpeg_quality = int(self.params["jpeg_quality"])
        self._compressed_pub = (self.create_publisher(CompressedImage, compressed_topic(IMAGE_TOPIC), SENSOR_DATA)
                                if self._jpeg_quality else None)
        self._scene_pub = self._scene_compressed_pub = None
        if loop_cfg.scene_camera is not None:
            self._scene_pub = self.create_publisher(Image, SCENE_IMAGE_TOPIC, SENSOR_DATA)
            if self._jpeg_quality:
                self._scene_compressed_pub = self.create_publisher(CompressedImage, compressed_topic(SCENE_IMAGE_TOPIC),
                                                                   SENSOR_DATA)
        cam = loop_cfg.camera
        self._info = None
        if cam is not None:
            k = camera_intrinsics(cam.width, cam.height, robot_cfg.scene.camera_fovy_deg)
            self._info = camera_info_msg(cam.width, cam.height, k.ravel().tolist(), d=[0.0] * 5,
                                         frame_id=CAMERA_FRAME_ID)
        self._image_msg = Image()
        self.core = SimCoreClient(self.params, self._on_core_message)
        self._objects = ObjectFramePublisher(self, self.core.info["stand"])
        self._reset_srv = self.create_service(Trigger, SIM_RESET_SERVICE, self._on_reset)
        self._release_srv = self.create_service(Trigger, SIM_RELEASE_SERVICE, self._on_release)
        self._ack_sub = self.create_subscription(Header, SIM_FRAME_ACK_TOPIC, self._on_ack, COMMANDS)
        if loop_cfg.lockstep and self.params["lockstep_chunk_topic"]:
            self._chunk_sub = self.create_subscription(JointTrajectory, self.params["lockstep_chunk_topic"],
                                                       self._on_ack, COMMANDS)
        self.get_logger().info(
            f"sim robot running (physics process {self.core.process.pid}): task {robot_cfg.task}, camera "
            f"{'off' if cam is None else f'{cam.width}x{cam.height}@{cam.rate_hz}Hz'}"
            f", {'lock-step' if loop_cfg.lockstep else f'real time x{loop_cfg.real_time_factor}'}")

    @property
    def running(self) -> bool:
        return self.core.running

    def stop(self) -> None:
        self.core.stop()

    # ------------------------------------------------------------ from the physics process (its reader thread)
    def _on_core_message(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "clock":
            self._clock_pub.publish(Clock(clock=to_time_msg(msg[1])))
        elif kind == "frame":
            self._publish_frame(msg[1], msg[2])
        elif kind == "scene":
            self._publish_scene_frame(msg[1], msg[2])
        elif kind == "task":
            _, status, robot_status, frames, stamp = msg
            self._task_pub.publish(task_status_to_msg(status, robot_status))
            self._objects.publish_frames(frames, to_time_msg(stamp))

    def _publish_frame(self, image: Any, sim_time: float) -> None:
        stamp = to_time_msg(sim_time)
        msg = image_to_msg(image, "rgb8", stamp=stamp, frame_id=CAMERA_FRAME_ID, msg=self._image_msg)
        self._image_pub.publish(msg)
        if self._compressed_pub is not None:
            self._compressed_pub.publish(image_to_compressed_msg(image, "rgb8", self._jpeg_quality, stamp, CAMERA_FRAME_ID))
        if self._info is not None:
            self._info.header.stamp = stamp
            self._info_pub.publish(self._info)

    def _publish_scene_frame(self, image: Any, sim_time: float) -> None:
        if self._scene_pub is None:
            return
        stamp = to_time_msg(sim_time)
        self._scene_pub.publish(image_to_msg(image, "rgb8", stamp=stamp, frame_id=SCENE_FRAME_ID))
        if self._scene_compressed_pub is not None:
            self._scene_compressed_pub.publish(image_to_compressed_msg(image, "rgb8", self._jpeg_quality, stamp,
                                                                       SCENE_FRAME_ID))

    # ------------------------------------------------------------ ROS callbacks
    def _on_ack(self, msg: Header | JointTrajectory) -> None:
        stamp = msg.stamp if isinstance(msg, Header) else msg.header.stamp
        self.core.acknowledge(stamp_to_seconds(stamp), chunk=isinstance(msg, JointTrajectory))

    def _on_release(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = bool(self.running) and self.core.release()
        response.message = "released" if response.success else "the simulation loop is not running"
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._episode += 1
        seed = self._seed0 + self._episode
        if not self.running:
            response.success, response.message = False, "the simulation loop is not running"
            return response
        done, status = self.core.reset(seed, timeout=RESET_TIMEOUT)
        response.success = bool(done)
        response.message = task_status_to_msg(status).message if done else f"reset to seed {seed} timed out"
        return response


def run(parameter_overrides: list[Parameter] | None = None, args: list[str] | None = None) -> int:
    """Start rclpy, run the node until SIGINT/SIGTERM or its `duration`, shut down cleanly. Returns 0."""
    stop = threading.Event()
    configure_node_transport(NODE_NAME)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # SIGINT/SIGTERM set `stop` from a watcher thread (a handler's Event.set can deadlock: utils/process_life.py)
    with stop_on_signals(stop.set):
        link = connect_supervisor(NODE_NAME)  # supervisor dead or hung -> SIGTERM -> stop
        node = None
        try:
            node = SimRobotNode(parameter_overrides=parameter_overrides or [])
            beat_from(node, link)
            executor = rclpy.executors.SingleThreadedExecutor()
            executor.add_node(node)
            while not stop.is_set() and node.running:
                executor.spin_once(timeout_sec=0.1)
        finally:
            if node is not None:
                node.stop()
                node.destroy_node()
            if rclpy.ok():
                rclpy.try_shutdown()
    return 0


def main(args: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args=args if args is not None else sys.argv)


if __name__ == "__main__":
    sys.exit(main())
