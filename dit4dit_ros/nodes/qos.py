"""The QoS profiles of the dit4dit graph, in one place so that publishers and subscribers always match.

Why these choices:
- Sensor streams (camera images) are BEST_EFFORT, KEEP_LAST small: a late frame is worthless, and a
  RELIABLE publisher would stall on a slow subscriber. A RELIABLE subscriber does NOT match a BEST_EFFORT
  publisher, so every image subscriber must use `SENSOR_DATA` too.
- Robot state (/joint_states, /imu) is RELIABLE, KEEP_LAST 10, VOLATILE: small messages, and RViz /
  robot_state_publisher subscribe with the default (RELIABLE) profile, which would not match best effort.
  A BEST_EFFORT subscriber still matches it.
- Latched topics (instruction, robot description, static markers) are RELIABLE + TRANSIENT_LOCAL, depth 1:
  a late subscriber receives the last value. The subscriber must also be TRANSIENT_LOCAL to get it.
- Commands (action chunks, teleop targets) are RELIABLE, KEEP_LAST 10, VOLATILE: never silently dropped,
  never replayed to a late subscriber (a stale command must not be executed).
- /diagnostics uses the ROS default (RELIABLE, depth 10), like diagnostic_aggregator expects.
"""
from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from dit4dit_ros.data.topics import QOS_PROFILE_NAMES


def sensor_data_qos(depth: int = 5) -> QoSProfile:
    """BEST_EFFORT, KEEP_LAST `depth`, VOLATILE (like rclpy's qos_profile_sensor_data)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def state_qos(depth: int = 10) -> QoSProfile:
    """RELIABLE, KEEP_LAST `depth`, VOLATILE: robot state (/joint_states, /imu)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos(depth: int = 1) -> QoSProfile:
    """RELIABLE + TRANSIENT_LOCAL, KEEP_LAST `depth`: late subscribers get the last message."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def command_qos(depth: int = 10) -> QoSProfile:
    """RELIABLE, KEEP_LAST `depth`, VOLATILE: commands are not dropped and never replayed late."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


SENSOR_DATA: QoSProfile = sensor_data_qos()
STATE: QoSProfile = state_qos()
LATCHED: QoSProfile = latched_qos()
# The simulator's task status: latched, and deep enough that an evaluator that falls behind still reads every
# status in order (success is judged on the sequence; a latest-only reader keeps the newest as before).
TASK_STATUS: QoSProfile = latched_qos(depth=50)
COMMANDS: QoSProfile = command_qos()
DIAGNOSTICS: QoSProfile = state_qos(depth=10)

_NAMED = {
    "sensor_data": sensor_data_qos,
    "state": state_qos,
    "latched": latched_qos,
    "commands": command_qos,
}
QOS_NAMES: tuple[str, ...] = QOS_PROFILE_NAMES
if tuple(_NAMED) != QOS_PROFILE_NAMES:  # the ROS-free list the parameter checks use must name these profiles
    raise ImportError(f"data/topics.py QOS_PROFILE_NAMES {QOS_PROFILE_NAMES} != the profiles here {tuple(_NAMED)}")


def qos_by_name(name: str, depth: int | None = None) -> QoSProfile:
    """The profile called `name` (one of QOS_NAMES), e.g. from a node parameter; optional depth override."""
    try:
        factory = _NAMED[name]
    except KeyError:
        raise ValueError(f"unknown QoS profile name {name!r}; expected one of {list(QOS_NAMES)}") from None
    if depth is not None:
        if depth < 1:
            raise ValueError(f"QoS depth must be >= 1, got {depth}")
        return factory(depth)
    return factory()
