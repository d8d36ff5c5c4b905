"""Unitree Dex3-1 HandCmd_ (CycloneDDS, unitree_sdk2py) <-> ROS 2 CDR bytes of `unitree_hg/msg/HandCmd`.

Unitree's XR teleoperation drives the Dex3-1 hands on the DDS topics rt/dex3/left/cmd and rt/dex3/right/cmd
(HandCmd_: a sequence of MotorCmd_, motor i = the hand's joint i in Dex3 motor order, g1/hands.py). The
recorder stores those commands as the ROS type unitree_ros2 defines for them, like LowCmd (lowcmd_cdr.py).

CDR (XCDR1, little endian): 4-byte encapsulation header; uint32 sequence length; per motor uint8 mode,
3 pad bytes, float32 q, dq, tau, kp, kd, uint32 reserve (28 bytes); uint32[4] reserve.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

from dit4dit_ros.data.lowcmd_cdr import CDR_LE_HEADER

HANDCMD_TYPE = "unitree_hg/msg/HandCmd"
HANDCMD_MSG = """\
unitree_hg/msg/MotorCmd[] motor_cmd
uint32[4] reserve
"""
_COUNT = struct.Struct("<I")
_MOTOR = struct.Struct("<B3x5fI")
_RESERVE = struct.Struct("<4I")
MAX_HAND_MOTORS = 64  # a sanity bound on the sequence length read from a bag


def handcmd_to_cdr(msg: Any) -> bytes:
    """CDR bytes of a unitree_sdk2py `HandCmd_` (any object with the same attributes)."""
    motors = list(msg.motor_cmd)
    parts = [CDR_LE_HEADER, _COUNT.pack(len(motors))]
    for m in motors:
        parts.append(_MOTOR.pack(int(m.mode), m.q, m.dq, m.tau, m.kp, m.kd, int(m.reserve)))
    parts.append(_RESERVE.pack(*(int(v) for v in msg.reserve)))
    return b"".join(parts)


def handcmd_q_from_cdr(data: bytes | memoryview) -> np.ndarray:
    """The motors' q targets (float64, Dex3 motor order) of a HandCmd in CDR; ValueError on malformed bytes."""
    if len(data) < 8 or bytes(data[:2]) != CDR_LE_HEADER[:2]:
        raise ValueError("unitree_hg/msg/HandCmd: expected little-endian CDR (header 00 01)")
    (count,) = _COUNT.unpack_from(data, 4)
    expected = 8 + count * _MOTOR.size + _RESERVE.size
    if count > MAX_HAND_MOTORS or len(data) != expected:
        raise ValueError(f"unitree_hg/msg/HandCmd: {count} motors need {expected} bytes, got {len(data)}")
    return np.array([_MOTOR.unpack_from(data, 8 + i * _MOTOR.size)[1] for i in range(count)], dtype=np.float64)
