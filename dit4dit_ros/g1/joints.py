"""The G1 29-DoF joint table: URDF names in SDK motor order, limits and default gains.

Position and torque limits are those of the G1 MJCF model that ships in the `wbc-mjlab` wheel (the same
numbers as Unitree's g1_29dof URDF); velocity limits are the URDF's per-motor-type values; default gains are
Unitree's example gains (legs kp [60,60,60,100,40,40], waist [60,40,40], arms 40; kd legs [1,1,1,2,1,1],
others 1). The index of a joint in `G1_JOINTS` is its motor slot in LowCmd/LowState (0..28).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

NUM_MOTOR_SLOTS = 35  # LowCmd_/LowState_ carry 35 motor slots; the 29-DoF G1 uses 0..28.


@dataclass(frozen=True)
class JointSpec:
    """One G1 joint: its URDF name, SDK motor index and hardware limits (SI units)."""

    name: str
    motor_index: int
    position_min: float  # rad
    position_max: float  # rad
    velocity_limit: float  # rad/s
    torque_limit: float  # N*m
    kp: float  # default PD stiffness, N*m/rad
    kd: float  # default PD damping, N*m*s/rad

    def __post_init__(self) -> None:
        if not self.position_min < self.position_max:
            raise ValueError(f"joint {self.name}: position_min {self.position_min} >= position_max {self.position_max}")
        if self.velocity_limit <= 0 or self.torque_limit <= 0:
            raise ValueError(f"joint {self.name}: velocity and torque limits must be positive")


def _spec(index: int, name: str, lo: float, hi: float, vel: float, tau: float, kp: float, kd: float) -> JointSpec:
    return JointSpec(name, index, lo, hi, vel, tau, kp, kd)


G1_JOINTS: tuple[JointSpec, ...] = (
    _spec(0, "left_hip_pitch_joint", -2.5307, 2.8798, 32.0, 88.0, 60.0, 1.0),
    _spec(1, "left_hip_roll_joint", -0.5236, 2.9671, 20.0, 139.0, 60.0, 1.0),
    _spec(2, "left_hip_yaw_joint", -2.7576, 2.7576, 32.0, 88.0, 60.0, 1.0),
    _spec(3, "left_knee_joint", -0.087267, 2.8798, 20.0, 139.0, 100.0, 2.0),
    _spec(4, "left_ankle_pitch_joint", -0.87267, 0.5236, 37.0, 50.0, 40.0, 1.0),
    _spec(5, "left_ankle_roll_joint", -0.2618, 0.2618, 37.0, 50.0, 40.0, 1.0),
    _spec(6, "right_hip_pitch_joint", -2.5307, 2.8798, 32.0, 88.0, 60.0, 1.0),
    _spec(7, "right_hip_roll_joint", -2.9671, 0.5236, 20.0, 139.0, 60.0, 1.0),
    _spec(8, "right_hip_yaw_joint", -2.7576, 2.7576, 32.0, 88.0, 60.0, 1.0),
    _spec(9, "right_knee_joint", -0.087267, 2.8798, 20.0, 139.0, 100.0, 2.0),
    _spec(10, "right_ankle_pitch_joint", -0.87267, 0.5236, 37.0, 50.0, 40.0, 1.0),
    _spec(11, "right_ankle_roll_joint", -0.2618, 0.2618, 37.0, 50.0, 40.0, 1.0),
    _spec(12, "waist_yaw_joint", -2.618, 2.618, 32.0, 88.0, 60.0, 1.0),
    _spec(13, "waist_roll_joint", -0.52, 0.52, 37.0, 50.0, 40.0, 1.0),
    _spec(14, "waist_pitch_joint", -0.52, 0.52, 37.0, 50.0, 40.0, 1.0),
    _spec(15, "left_shoulder_pitch_joint", -3.0892, 2.6704, 37.0, 25.0, 40.0, 1.0),
    _spec(16, "left_shoulder_roll_joint", -1.5882, 2.2515, 37.0, 25.0, 40.0, 1.0),
    _spec(17, "left_shoulder_yaw_joint", -2.618, 2.618, 37.0, 25.0, 40.0, 1.0),
    _spec(18, "left_elbow_joint", -1.0472, 2.0944, 37.0, 25.0, 40.0, 1.0),
    _spec(19, "left_wrist_roll_joint", -1.97222, 1.97222, 37.0, 25.0, 40.0, 1.0),
    _spec(20, "left_wrist_pitch_joint", -1.61443, 1.61443, 22.0, 5.0, 40.0, 1.0),
    _spec(21, "left_wrist_yaw_joint", -1.61443, 1.61443, 22.0, 5.0, 40.0, 1.0),
    _spec(22, "right_shoulder_pitch_joint", -3.0892, 2.6704, 37.0, 25.0, 40.0, 1.0),
    _spec(23, "right_shoulder_roll_joint", -2.2515, 1.5882, 37.0, 25.0, 40.0, 1.0),
    _spec(24, "right_shoulder_yaw_joint", -2.618, 2.618, 37.0, 25.0, 40.0, 1.0),
    _spec(25, "right_elbow_joint", -1.0472, 2.0944, 37.0, 25.0, 40.0, 1.0),
    _spec(26, "right_wrist_roll_joint", -1.97222, 1.97222, 37.0, 25.0, 40.0, 1.0),
    _spec(27, "right_wrist_pitch_joint", -1.61443, 1.61443, 22.0, 5.0, 40.0, 1.0),
    _spec(28, "right_wrist_yaw_joint", -1.61443, 1.61443, 22.0, 5.0, 40.0, 1.0),
)

NUM_JOINTS = len(G1_JOINTS)
JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in G1_JOINTS)
JOINT_INDEX = MappingProxyType({j.name: j.motor_index for j in G1_JOINTS})

LEFT_ARM: tuple[str, ...] = JOINT_NAMES[15:22]
RIGHT_ARM: tuple[str, ...] = JOINT_NAMES[22:29]
ARMS: tuple[str, ...] = LEFT_ARM + RIGHT_ARM
WAIST: tuple[str, ...] = JOINT_NAMES[12:15]
LEGS: tuple[str, ...] = JOINT_NAMES[0:12]


def joint_indices(names: "list[str] | tuple[str, ...]") -> np.ndarray:
    """Motor indices of `names`; an unknown name is a ValueError that lists the valid ones."""
    unknown = [n for n in names if n not in JOINT_INDEX]
    if unknown:
        raise ValueError(f"unknown G1 joint name(s) {unknown}; expected names from {list(JOINT_NAMES)}")
    return np.array([JOINT_INDEX[n] for n in names], dtype=np.int64)


def limits_array(field: str, names: "list[str] | tuple[str, ...]" = JOINT_NAMES) -> np.ndarray:
    """A float64 array of one JointSpec field (e.g. 'torque_limit') for `names`, in the given order."""
    idx = joint_indices(names)
    return np.array([getattr(G1_JOINTS[i], field) for i in idx], dtype=np.float64)
