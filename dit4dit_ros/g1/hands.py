"""The G1's hands as data channels: the Dex3-1 joint names per side, their limits, and the gripper scalars.

Dex3-1 (Unitree's three-finger hand) has 7 joints per side. Their order here is Unitree's motor order on the
hand's own DDS interface (`rt/dex3/{left,right}/cmd`, motor_cmd[0..6]): thumb 0, 1, 2, middle 0, 1, index 0, 1.
The names are the URDF/MJCF joint names of Unitree's g1_29dof_with_hand description (also used by
mujoco_menagerie's `unitree_g1/g1_with_hands.xml`): `left_hand_thumb_0_joint`, ...

Position and torque limits are those of that model (BSD-3, mujoco_menagerie). The left and right hands are
mirror images: the same joint bends the other way, so the ranges differ by side.

The official DiT4DiT G1 layout uses one scalar per hand instead of the 7 joints: `left_gripper` and
`right_gripper`, 0 = open .. 1 = closed. A gripper value is a synergy of the hand's joints (defined where
the hands are commanded); in data it is a channel of its own, named like a joint.
"""
from __future__ import annotations

from types import MappingProxyType

HAND_SIDES = ("left", "right")
# Dex3-1 motor order on rt/dex3/<side>/cmd and rt/dex3/<side>/state.
DEX3_JOINT_SUFFIXES: tuple[str, ...] = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")
DEX3_MOTORS_PER_HAND = len(DEX3_JOINT_SUFFIXES)


def hand_joint_names(side: str) -> tuple[str, ...]:
    """The 7 Dex3-1 joint names of `side` ('left' or 'right') in Dex3 motor order."""
    if side not in HAND_SIDES:
        raise ValueError(f"hand side {side!r}; expected one of {HAND_SIDES}")
    return tuple(f"{side}_hand_{suffix}_joint" for suffix in DEX3_JOINT_SUFFIXES)


LEFT_HAND: tuple[str, ...] = hand_joint_names("left")
RIGHT_HAND: tuple[str, ...] = hand_joint_names("right")
HAND_JOINTS: tuple[str, ...] = LEFT_HAND + RIGHT_HAND

# (position_min, position_max) [rad] and torque limit [N*m] per joint, g1_with_hands.xml.
_LEFT_LIMITS = ((-1.0472, 1.0472), (-0.724312, 1.0472), (0.0, 1.74533), (-1.5708, 0.0), (-1.74533, 0.0),
                (-1.5708, 0.0), (-1.74533, 0.0))
_RIGHT_LIMITS = ((-1.0472, 1.0472), (-1.0472, 0.724312), (-1.74533, 0.0), (0.0, 1.5708), (0.0, 1.74533),
                 (0.0, 1.5708), (0.0, 1.74533))
_TORQUES = (2.45, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4)
HAND_POSITION_LIMITS = MappingProxyType(
    {**dict(zip(LEFT_HAND, _LEFT_LIMITS)), **dict(zip(RIGHT_HAND, _RIGHT_LIMITS))})
HAND_TORQUE_LIMITS = MappingProxyType({**dict(zip(LEFT_HAND, _TORQUES)), **dict(zip(RIGHT_HAND, _TORQUES))})

LEFT_GRIPPER = "left_gripper"
RIGHT_GRIPPER = "right_gripper"
GRIPPERS: tuple[str, ...] = (LEFT_GRIPPER, RIGHT_GRIPPER)
GRIPPER_OPEN = 0.0
GRIPPER_CLOSED = 1.0
