"""Unitree G1 LowCmd_ (CycloneDDS, unitree_sdk2py) <-> ROS 2 CDR bytes of `unitree_hg/msg/LowCmd`.

External teleoperation systems command the G1 on the DDS topics rt/lowcmd or rt/arm_sdk without any ROS
message. The recorder stores those commands in the bag as the ROS type unitree_ros2 defines for them
(`unitree_hg/msg/LowCmd`, same fields), so bag tools with the message definition (rosbags, the mcap ROS 2
decoder; the definition is embedded in the MCAP schema) can read them. The message is fixed-size, so packing
it with one precompiled `struct` costs a few microseconds at 500 Hz instead of a generic serializer.

CDR (XCDR1, little endian): a 4-byte encapsulation header, then fields aligned to their own size relative to
the end of the header. MotorCmd starts with a uint8, so motor i's `mode` directly follows the previous field.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

NUM_MOTOR_SLOTS = 35
MOTORCMD_TYPE = "unitree_hg/msg/MotorCmd"
MOTORCMD_MSG = """\
uint8 mode
float32 q
float32 dq
float32 tau
float32 kp
float32 kd
uint32 reserve
"""
LOWCMD_MSG = """\
uint8 mode_pr
uint8 mode_machine
unitree_hg/msg/MotorCmd[35] motor_cmd
uint32[4] reserve
uint32 crc
"""
CDR_LE_HEADER = b"\x00\x01\x00\x00"
# mode_pr, mode_machine, motor 0 (mode at offset 2, one pad byte), motors 1..34 (mode + 3 pad bytes), reserve, crc
_LOWCMD_STRUCT = struct.Struct("<BB" + "Bx5fI" + "B3x5fI" * (NUM_MOTOR_SLOTS - 1) + "4II")
LOWCMD_CDR_SIZE = len(CDR_LE_HEADER) + _LOWCMD_STRUCT.size
_MOTOR_FIELDS = 7  # mode, q, dq, tau, kp, kd, reserve


def lowcmd_to_cdr(msg: Any) -> bytes:
    """CDR bytes of a unitree_sdk2py `LowCmd_` (any object with the same attributes)."""
    values: list = [int(msg.mode_pr), int(msg.mode_machine)]
    motors = msg.motor_cmd
    if len(motors) != NUM_MOTOR_SLOTS:
        raise ValueError(f"LowCmd_.motor_cmd has {len(motors)} entries, expected {NUM_MOTOR_SLOTS}")
    for m in motors:
        values += (m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve)
    values += list(msg.reserve)
    values.append(int(msg.crc))
    return CDR_LE_HEADER + _LOWCMD_STRUCT.pack(*values)


@dataclass
class LowCmdArrays:
    """The per-motor fields of one LowCmd (35 slots, SDK motor order)."""

    mode_pr: int
    mode_machine: int
    mode: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    crc: int


def lowcmd_from_cdr(data: bytes | memoryview) -> LowCmdArrays:
    """Parse CDR bytes written by `lowcmd_to_cdr` (or by ROS 2 for unitree_hg/msg/LowCmd)."""
    if len(data) != LOWCMD_CDR_SIZE:
        raise ValueError(f"unitree_hg/msg/LowCmd CDR must be {LOWCMD_CDR_SIZE} bytes, got {len(data)}")
    if bytes(data[:2]) != CDR_LE_HEADER[:2]:
        raise ValueError(f"unitree_hg/msg/LowCmd: expected little-endian CDR header 00 01, got {bytes(data[:2]).hex()}")
    values = _LOWCMD_STRUCT.unpack_from(data, 4)
    motors = np.array(values[2 : 2 + _MOTOR_FIELDS * NUM_MOTOR_SLOTS], dtype=np.float64).reshape(NUM_MOTOR_SLOTS, _MOTOR_FIELDS)
    return LowCmdArrays(
        mode_pr=values[0],
        mode_machine=values[1],
        mode=motors[:, 0].astype(np.int64),
        q=motors[:, 1],
        dq=motors[:, 2],
        tau=motors[:, 3],
        kp=motors[:, 4],
        kd=motors[:, 5],
        crc=values[-1],
    )
