"""tf2_msgs/TFMessage on /tf and /tf_static, written by hand (tf2_ros is not available from PyPI).

QoS as tf2_ros uses it: /tf RELIABLE volatile (depth 100), /tf_static RELIABLE + TRANSIENT_LOCAL (depth 1: one
message carries every static transform of a publisher, late subscribers get it).
"""
from __future__ import annotations

from typing import Any, Iterable

from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from dit4dit_ros.data.topics import TF_STATIC_TOPIC as TF_STATIC_TOPIC, TF_TOPIC as TF_TOPIC  # re-exported
from dit4dit_ros.g1.description import FrameTransform

TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)


def transform_msg(t: FrameTransform, stamp: Time) -> TransformStamped:
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id, msg.child_frame_id = t.parent, t.child
    tr, q = msg.transform.translation, msg.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in t.xyz)
    q.w, q.x, q.y, q.z = (float(v) for v in t.wxyz)
    return msg


def tf_message(transforms: Iterable[FrameTransform], stamp: Time) -> TFMessage:
    return TFMessage(transforms=[transform_msg(t, stamp) for t in transforms])


class ObjectFramePublisher:
    """The simulator's world on /tf_static (world -> robot root: the stand) and /tf (world -> each object).

    The frames themselves come from the physics process (sim/world_frames.py)."""

    def __init__(self, node: Any, stand: FrameTransform) -> None:
        self._tf = node.create_publisher(TFMessage, TF_TOPIC, TF_QOS)
        self._static = node.create_publisher(TFMessage, TF_STATIC_TOPIC, TF_STATIC_QOS)
        self._static.publish(tf_message([stand], Time()))

    def publish_frames(self, frames: list[FrameTransform], stamp: Time) -> None:
        self._tf.publish(tf_message(frames, stamp))
