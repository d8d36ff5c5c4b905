"""Robot state node: the robot description and its TF tree from the measured joints (robot_state_publisher's job).

Publishes /robot_description (std_msgs/String, latched: the URDF generated from the G1 MuJoCo model in use,
g1/description.py), /tf_static (welded links and the ego camera's frames, head_camera_optical_frame included)
and /tf (every joint's transform, stamped with the /joint_states stamp, at most `publish_rate_hz`). It follows the
joints only while /tf has a subscriber (checked every second): without a viewer it costs nothing. RViz's
RobotModel and TF displays, and anything else that wants frames, read these. Joints /joint_states does not name
keep their last value (zero at start).

The commanded pose as a ghost: the joint targets the executor sends (/dit4dit/executor/command, JointState) are
published as a second copy of the tree under `command_frame_prefix` (commanded/pelvis at the pelvis, joints the
command does not name at their measured value); RViz shows it with a second RobotModel whose TF Prefix is
"commanded" (config/dit4dit.rviz).

Meshes: the URDF references STL files written from the MuJoCo model into `description_dir` (default: a cache
directory keyed by the model) as file:// URIs, readable by an RViz on this machine; set `mesh_uri_prefix` (e.g.
package://... or http://...) where the viewer runs elsewhere.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from tf2_msgs.msg import TFMessage

from dit4dit_ros.data.topics import ROBOT_DESCRIPTION_TOPIC
from dit4dit_ros.nodes.qos import LATCHED, SENSOR_DATA
from dit4dit_ros.nodes.ros_params import ParamSpec, declare_parameters
from dit4dit_ros.utils.param_fields import param_specs
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes.tf_publishing import TF_QOS, TF_STATIC_QOS, TF_STATIC_TOPIC, TF_TOPIC, tf_message
from dit4dit_ros.utils.stamps import stamp_to_seconds
from dit4dit_ros.node_params.monitor import RobotStateParams

NODE_NAME = "robot_state"
DESCRIPTION_TOPIC = ROBOT_DESCRIPTION_TOPIC

PARAMETERS: tuple[ParamSpec, ...] = param_specs(RobotStateParams)


def default_description_dir(urdf_key: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dit4dit_ros" / "description" / hashlib.sha256(urdf_key.encode()).hexdigest()[:16]


def prepare_description(model, description_dir: str = "", mesh_uri_prefix: str = "") -> tuple[str, Path]:
    """(URDF text, directory) for `model`, meshes written there unless an identical set already is."""
    from dit4dit_ros.g1.description import RobotDescription

    description = RobotDescription(model)
    key = description.urdf("")  # the model's identity: the URDF without mesh locations
    directory = Path(description_dir) if description_dir else default_description_dir(key)
    directory = directory.resolve()
    stamp = directory / "model.sha256"
    digest = hashlib.sha256(key.encode()).hexdigest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        description.write_meshes(directory / "meshes")
        stamp.write_text(digest)
    prefix = mesh_uri_prefix or f"file://{directory / 'meshes'}/"
    urdf = description.urdf(prefix)
    (directory / f"{description.name}.urdf").write_text(urdf)
    return urdf, directory


class RobotStateNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        from dit4dit_ros.g1.description import RobotFrames
        from dit4dit_ros.g1.model import build_robot_model

        model = build_robot_model()
        self.frames = RobotFrames(model)
        self.commanded = RobotFrames(model)
        self.prefix = p["command_frame_prefix"]
        self._measured: dict[str, float] = {}
        urdf, directory = prepare_description(model, p["description_dir"], p["mesh_uri_prefix"])
        self.description_pub = self.create_publisher(String, DESCRIPTION_TOPIC, LATCHED)
        self.description_pub.publish(String(data=urdf))
        self.static_pub = self.create_publisher(TFMessage, TF_STATIC_TOPIC, TF_STATIC_QOS)
        self.static_pub.publish(tf_message(self.static_transforms(), self.get_clock().now().to_msg()))
        self.tf_pub = self.create_publisher(TFMessage, TF_TOPIC, TF_QOS)
        self.min_period = 1.0 / p["publish_rate_hz"] if p["publish_rate_hz"] > 0 else 0.0
        self._last_stamp = -float("inf")
        self._warned: set[str] = set()
        self._last_command = -float("inf")
        self._joint_subscriptions: list = []
        self._update_subscriptions()
        self.create_timer(1.0, self._update_subscriptions)
        self.get_logger().info(f"robot description: {len(self.frames.moving)} joints, meshes in {directory}")

    def _update_subscriptions(self) -> None:
        """Follow the joints only while /tf has a subscriber (a viewer): handling 200 joint messages a second costs
        this node ~8 % of a core, for nothing when nobody looks."""
        wanted = self.tf_pub.get_subscription_count() > 0
        if wanted and not self._joint_subscriptions:
            self._joint_subscriptions.append(self.create_subscription(JointState, self.p["joint_states_topic"],
                                                                self._on_joint_states, SENSOR_DATA))
            if self.p["command_topic"]:
                self._joint_subscriptions.append(self.create_subscription(JointState, self.p["command_topic"],
                                                                    self._on_command, SENSOR_DATA))
        elif not wanted and self._joint_subscriptions:
            for sub in self._joint_subscriptions:
                self.destroy_subscription(sub)
            self._joint_subscriptions.clear()

    def _on_joint_states(self, msg: JointState) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        if stamp - self._last_stamp < self.min_period - 1e-9 and stamp >= self._last_stamp:
            return
        if len(msg.name) != len(msg.position):
            self.get_logger().error(f"joint state with {len(msg.name)} names and {len(msg.position)} positions: "
                                    "dropped", throttle_duration_sec=5.0)
            return
        self._measured.update(zip(msg.name, msg.position))  # joints a message does not name keep their last value
        self._last_stamp = stamp
        unknown = self.frames.set_joints(self._measured)
        for name in set(unknown) - self._warned:
            self._warned.add(name)
            self.get_logger().warning(f"joint {name!r} is not in the robot model: ignored")
        self.tf_pub.publish(tf_message(self.frames.moving_transforms(), msg.header.stamp))

    def static_transforms(self) -> list:
        """The measured tree's static transforms, and the ghost's: its root at the robot's root, its welded links."""
        from dit4dit_ros.g1.description import FrameTransform

        out = self.frames.static_transforms()
        if self.p["command_topic"]:
            root = self.frames.description.root
            out.append(FrameTransform(root, self.prefix + root, np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0])))
            out += [self._prefixed(t) for t in self.commanded.static_transforms()]
        return out

    def _prefixed(self, t):
        from dit4dit_ros.g1.description import FrameTransform

        return FrameTransform(self.prefix + t.parent, self.prefix + t.child, t.xyz, t.wxyz)

    def _on_command(self, msg: JointState) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        if (stamp - self._last_command < self.min_period - 1e-9 and stamp >= self._last_command) \
                or len(msg.name) != len(msg.position):
            return
        self._last_command = stamp
        self.commanded.set_joints({**self._measured, **dict(zip(msg.name, msg.position))})
        self.tf_pub.publish(tf_message([self._prefixed(t) for t in self.commanded.moving_transforms()], msg.header.stamp))


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros robot_state_node` / `python -m dit4dit_ros.nodes.robot_state_node`."""
    return run_node(RobotStateNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
