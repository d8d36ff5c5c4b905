"""ROS messages -> the executor's inputs, with every size checked before any per-point work.

A JointTrajectory of 100,000 points costs seconds to turn into Python lists; it must be refused by its
length alone. `chunk_from_trajectory` and `teleop_from_joint_state` return (value, "") or (None, reason);
nothing here raises on robot input. Unknown joint names are refused here too: the shared memory to the
real-time process carries channel indices (the G1's joints, then left_gripper and right_gripper, whose values
0 open .. 1 closed drive the Dex3-1 hands).
"""
from __future__ import annotations

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk, chunk_from_points
from dit4dit_ros.control.rt.shm import CHANNEL_INDEX, NUM_CHANNELS
from dit4dit_ros.g1.joints import NUM_JOINTS


_G1 = f"the G1 has {NUM_JOINTS} joints and {NUM_CHANNELS - NUM_JOINTS} grippers"


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _names_problem(names) -> str:
    if len(names) == 0:
        return "no joint names"
    if len(names) > NUM_CHANNELS:
        return f"{len(names)} joint names; {_G1}"
    unknown = [n for n in names if n not in CHANNEL_INDEX]
    if unknown:
        return f"unknown joint(s) {unknown[:5]}; expected G1 joint names or left_gripper/right_gripper"
    return ""


def chunk_from_trajectory(msg, stamp_on_core_clock, max_points: int, default_period: float
                          ) -> tuple[ActionChunk | None, str]:
    """An ActionChunk from a trajectory_msgs/JointTrajectory; `stamp_on_core_clock(header.stamp)` -> seconds."""
    npts = len(msg.points)  # sizes first: nothing below runs for an oversized message
    if npts == 0:
        return None, "chunk has no points"
    if npts > max_points:
        return None, f"chunk has {npts} points; at most {max_points} are accepted"
    if len(msg.joint_names) > NUM_CHANNELS:
        return None, f"chunk has {len(msg.joint_names)} joint names; {_G1}"
    names = list(msg.joint_names)
    problem = _names_problem(names)
    if problem:
        return None, f"chunk: {problem}"
    if stamp_seconds(msg.header.stamp) == 0.0:
        return None, "chunk header.stamp is zero: it must be the observation time"
    n = len(names)
    for k, pt in enumerate(msg.points):  # lengths only: a point with a huge positions array is refused cheaply
        if len(pt.positions) != n:
            return None, f"trajectory point {k} has {len(pt.positions)} positions; expected {n} (one per joint name)"
    return chunk_from_points(names, stamp_on_core_clock(msg.header.stamp),
                             [stamp_seconds(pt.time_from_start) for pt in msg.points],
                             [pt.positions for pt in msg.points], default_period)


def teleop_from_joint_state(msg) -> tuple[tuple[list[str], np.ndarray] | None, str]:
    """(names, positions) from a sensor_msgs/JointState teleop command (other fields ignored)."""
    if len(msg.name) > NUM_CHANNELS or len(msg.position) > NUM_CHANNELS:
        return None, f"JointState has {len(msg.name)} names and {len(msg.position)} positions; {_G1}"
    names = list(msg.name)
    if len(names) != len(msg.position):
        return None, f"JointState has {len(names)} names but {len(msg.position)} positions"
    problem = _names_problem(names)
    if problem:
        return None, f"JointState: {problem}"
    return (names, np.asarray(msg.position, dtype=np.float64)), ""


__all__ = ["chunk_from_trajectory", "teleop_from_joint_state", "stamp_seconds"]
