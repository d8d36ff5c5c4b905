"""The Dex3-1 hand joint table: names, wire order and limits of both hands, and the gripper scalar names.

Each G1 hand has 7 joints: thumb 0-2, and two fingers of two joints each, middle 0-1 and index 0-1. Names,
ranges and torque limits are those of Unitree's G1-with-hands description (the same numbers as
mujoco_menagerie's `unitree_g1/g1_with_hands.xml`, BSD-3). The right hand is the left hand turned 180 degrees
about the forearm, which is why its ranges have the opposite sign.

Wire order (`rt/dex3/{left,right}/cmd` HandCmd_.motor_cmd[i], `.../state` HandState_.motor_state[i]): the motor
ids of Unitree's own Dex3-1 teleoperation code (xr_teleoperate `Dex3_1_{Left,Right}_JointIndex`): thumb 0, 1, 2
in slots 0-2 on both hands, then middle 0-1 in slots 3-4 and index 0-1 in slots 5-6 on the left hand, index 0-1
in slots 3-4 and middle 0-1 in slots 5-6 on the right. Every per-hand array here is in that wire order.

The official DiT4DiT G1 layout uses one scalar per hand instead of the 7 joints: `left_gripper` and
`right_gripper`, 0 = open .. 1 = closed, a synergy of the hand's joints; in data it is a channel of its own.

This is the joint-table part of the `hands` work's module of the same name (same names and values); that
module adds the Dex3-1 motor mode byte and the synergy lives beside it.
"""
from __future__ import annotations

from enum import Enum
from types import MappingProxyType

import numpy as np

from dit4dit_ros.g1.joints import JointSpec

HAND_MOTORS = 7
HAND_KP = 1.5
HAND_KD = 0.2
HAND_VELOCITY_LIMIT = 6.0


class HandSide(str, Enum):
    LEFT = "left"
    RIGHT = "right"


def _hand(side: str, order: tuple[tuple[str, float, float, float], ...]) -> tuple[JointSpec, ...]:
    return tuple(JointSpec(f"{side}_hand_{name}_joint", slot, lo, hi, HAND_VELOCITY_LIMIT, tau, HAND_KP, HAND_KD)
                 for slot, (name, lo, hi, tau) in enumerate(order))


# (joint, position_min, position_max, torque_limit) in wire-slot order.
LEFT_HAND_JOINTS: tuple[JointSpec, ...] = _hand("left", (
    ("thumb_0", -1.0472, 1.0472, 2.45), ("thumb_1", -0.724312, 1.0472, 1.4), ("thumb_2", 0.0, 1.74533, 1.4),
    ("middle_0", -1.5708, 0.0, 1.4), ("middle_1", -1.74533, 0.0, 1.4),
    ("index_0", -1.5708, 0.0, 1.4), ("index_1", -1.74533, 0.0, 1.4),
))
RIGHT_HAND_JOINTS: tuple[JointSpec, ...] = _hand("right", (
    ("thumb_0", -1.0472, 1.0472, 2.45), ("thumb_1", -1.0472, 0.724312, 1.4), ("thumb_2", -1.74533, 0.0, 1.4),
    ("index_0", 0.0, 1.5708, 1.4), ("index_1", 0.0, 1.74533, 1.4),
    ("middle_0", 0.0, 1.5708, 1.4), ("middle_1", 0.0, 1.74533, 1.4),
))
HAND_JOINTS: MappingProxyType = MappingProxyType({HandSide.LEFT: LEFT_HAND_JOINTS, HandSide.RIGHT: RIGHT_HAND_JOINTS})
HAND_JOINT_NAMES: MappingProxyType = MappingProxyType(
    {side: tuple(j.name for j in joints) for side, joints in HAND_JOINTS.items()})
ALL_HAND_JOINT_NAMES: tuple[str, ...] = HAND_JOINT_NAMES[HandSide.LEFT] + HAND_JOINT_NAMES[HandSide.RIGHT]
# The official DiT4DiT G1 layout's scalar gripper per hand (0 open .. 1 closed).
GRIPPER_NAMES: MappingProxyType = MappingProxyType({HandSide.LEFT: "left_gripper", HandSide.RIGHT: "right_gripper"})
ALL_GRIPPER_NAMES: tuple[str, ...] = (GRIPPER_NAMES[HandSide.LEFT], GRIPPER_NAMES[HandSide.RIGHT])
_SIDE_OF = {name: side for side, names in HAND_JOINT_NAMES.items() for name in names}
_SIDE_OF.update({name: side for side, name in GRIPPER_NAMES.items()})
SIDE_OF_NAME = MappingProxyType(_SIDE_OF)  # hand joint or gripper name -> its hand


def hand_side(value: "HandSide | str") -> HandSide:
    """A HandSide from 'left'/'right'; anything else is a ValueError naming the choices."""
    try:
        return HandSide(value)
    except ValueError:
        raise ValueError(f"hand side must be 'left' or 'right', got {value!r}") from None


def hand_limits(side: "HandSide | str", field: str) -> np.ndarray:
    """(7,) float64 array of one JointSpec field (e.g. 'position_min') of a hand, in wire order."""
    return np.array([getattr(j, field) for j in HAND_JOINTS[hand_side(side)]], dtype=np.float64)


def is_hand_name(name: str) -> bool:
    """True for a Dex3-1 joint name or a gripper scalar name."""
    return name in SIDE_OF_NAME
