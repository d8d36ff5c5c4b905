"""One Dex3-1 hand's motor command (what a HandCmd_ carries), validated, and the gripper synergy.

A HandCommand holds the 7 motors' PD targets in wire order (g1/hands.py): the hand's motor driver runs
tau = kp (q - q_meas) + kd (dq - dq_meas) + tau_ff per motor, like the body's motors.

The synergy maps the official DiT4DiT G1 layout's scalar gripper (0 open .. 1 closed) to the 7 joint targets:
every joint moves linearly from its open angle to its closed angle (GRIPPER_OPEN / GRIPPER_CLOSED below, in wire
order, radians). Open is the flat hand with the thumb spun to face the fingers; closed curls the fingers and the
thumb towards each other far enough that a 4-6 cm object between them is squeezed (the targets lie past the
contact, so the PD law presses with kp times the remaining error, bounded by the torque limits). The same
tables are in docs/hands.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.hands import HAND_KD, HAND_KP, HAND_MOTORS, HandSide, hand_limits, hand_side

# Wire order: thumb_0, thumb_1, thumb_2, then (left) middle_0, middle_1, index_0, index_1 /
# (right) index_0, index_1, middle_0, middle_1. Right = left with the flexion signs flipped (mirrored hand).
_LEFT_OPEN = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_LEFT_CLOSED = np.array([0.0, 0.9, 1.5, -1.5, -1.6, -1.5, -1.6])
_FLIP = np.array([1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0])
GRIPPER_OPEN = {HandSide.LEFT: _LEFT_OPEN, HandSide.RIGHT: _LEFT_OPEN * _FLIP}
GRIPPER_CLOSED = {HandSide.LEFT: _LEFT_CLOSED, HandSide.RIGHT: _LEFT_CLOSED * _FLIP}


def gripper_to_joints(side: "HandSide | str", value: float) -> np.ndarray:
    """(7,) wire-order joint targets of the synergy for a gripper value (0 open .. 1 closed; ValueError outside)."""
    side = hand_side(side)
    value = float(value)
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{side.value}_gripper must be a finite value in [0, 1] (0 open, 1 closed), got {value}")
    q = GRIPPER_OPEN[side] + value * (GRIPPER_CLOSED[side] - GRIPPER_OPEN[side])
    return np.clip(q, hand_limits(side, "position_min"), hand_limits(side, "position_max"))


def joints_to_gripper(side: "HandSide | str", q: np.ndarray) -> float:
    """The gripper value whose synergy pose is closest to joint positions `q` (least squares, clipped to [0, 1])."""
    side = hand_side(side)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (HAND_MOTORS,):
        raise ValueError(f"{side.value} hand joint positions must have shape ({HAND_MOTORS},), got {q.shape}")
    span = GRIPPER_CLOSED[side] - GRIPPER_OPEN[side]
    return float(np.clip(np.dot(q - GRIPPER_OPEN[side], span) / np.dot(span, span), 0.0, 1.0))


@dataclass(frozen=True)
class HandCommand:
    """PD targets of one hand's 7 motors in wire order (SI units)."""

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray

    def __post_init__(self) -> None:
        for name in ("q", "dq", "tau", "kp", "kd"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (HAND_MOTORS,):
                raise ValueError(f"HandCommand.{name} must have shape ({HAND_MOTORS},), got {value.shape}")
            object.__setattr__(self, name, value)

    def problems(self) -> list[str]:
        """What makes this command unusable (non-finite values, negative gains); empty when it is fine."""
        out = [f"{n} has non-finite values" for n in ("q", "dq", "tau", "kp", "kd")
               if not np.all(np.isfinite(getattr(self, n)))]
        out += [f"{n} has negative gains" for n in ("kp", "kd") if np.any(getattr(self, n) < 0)]
        return out

    @classmethod
    def position(cls, q: np.ndarray, kp: float = HAND_KP, kd: float = HAND_KD) -> "HandCommand":
        """A position command with the default gains and no feed-forward."""
        zeros = np.zeros(HAND_MOTORS)
        return cls(q=np.asarray(q, dtype=np.float64), dq=zeros, tau=zeros,
                   kp=np.full(HAND_MOTORS, kp), kd=np.full(HAND_MOTORS, kd))

    @classmethod
    def gripper(cls, side: "HandSide | str", value: float) -> "HandCommand":
        """The synergy's position command for a gripper value."""
        return cls.position(gripper_to_joints(side, value))
