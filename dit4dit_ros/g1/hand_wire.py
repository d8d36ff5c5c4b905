"""Dex3-1 DDS messages as bytes: unitree_hg HandCmd_ and HandState_ in little-endian XCDR1 (ROS- and DDS-free).

Unitree's Dex3-1 interface: commands on `rt/dex3/{left,right}/cmd` (HandCmd_: a sequence of 7 MotorCmd_ in wire
order, g1/hands.py) and states on `rt/dex3/{left,right}/state` (HandState_: 7 MotorState_, the fingertip
pressure sensors, the hand's IMU, supply voltages/currents, error words). The bytes are exactly what the SDK's
CycloneDDS types serialize (tests/g1/test_hand_wire.py compares them with unitree_sdk2py's own HandCmd_ and
HandState_), so the hands interoperate with the robot and with Unitree's programs; coding them here keeps the
hot path free of CycloneDDS's slow Python serializer, as g1/lowcmd.py does for LowCmd_.

The MotorCmd_ `mode` byte of a Dex3-1 motor packs the motor id (bits 0-3), the status (bits 4-6: 1 = enabled,
0 = off) and the timeout flag (bit 7), as Unitree's Dex3-1 examples set it (RIS_Mode).

Layouts (offsets after the 4-byte encapsulation header; every struct 4-byte aligned):
- HandCmd_: uint32 n; n x MotorCmd_ (uint8 mode, 3 pad, float32 q dq tau kp kd, uint32 reserve: 28 bytes);
  uint32[4] reserve.
- HandState_: uint32 n; n x MotorState_ (uint8 mode, 3 pad, float32 q dq ddq tau_est, int16[2] temperature,
  float32 vol, uint32[2] sensor, uint32 motorstate, uint32[4] reserve: 56 bytes); uint32 m; m x
  PressSensorState_ (float32[12] pressure, float32[12] temperature, uint32 lost, uint32 reserve: 104 bytes);
  IMUState_ (float32[4] quaternion, [3] gyroscope, [3] accelerometer, [3] rpy, int16 temperature, 2 pad);
  float32 power_v power_a system_v device_v; uint32[2] error; uint32[2] reserve.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.hand_command import HandCommand
from dit4dit_ros.g1.hands import HAND_MOTORS, HandSide, hand_side

CDR_LE_HEADER = b"\x00\x01\x00\x00"
HAND_TOPICS = {side: (f"rt/dex3/{side.value}/cmd", f"rt/dex3/{side.value}/state") for side in HandSide}
MOTOR_ENABLED = 0x01
MAX_MOTORS = 64  # sanity bound on a sequence length read from the wire

_COUNT = struct.Struct("<I")
_MOTOR_CMD = struct.Struct("<B3x5fI")
_CMD_RESERVE = struct.Struct("<4I")
_MOTOR_STATE = struct.Struct("<B3x4f2hf2II4I")
_PRESS = struct.Struct("<24f2I")
_IMU = struct.Struct("<13fh2x")
_TAIL = struct.Struct("<4f2I2I")


def motor_mode(slot: int, enabled: bool = True, timeout: bool = False) -> int:
    """The Dex3-1 MotorCmd_ mode byte: id | status << 4 | timeout << 7."""
    if not 0 <= slot < 16:
        raise ValueError(f"Dex3-1 motor id must be in [0, 15], got {slot}")
    return (slot & 0x0F) | ((MOTOR_ENABLED if enabled else 0) << 4) | (int(timeout) << 7)


def encode_handcmd_cdr(cmd: HandCommand, enabled: bool = True) -> bytes:
    """HandCmd_ bytes of a HandCommand (7 motors in wire order)."""
    parts = [CDR_LE_HEADER, _COUNT.pack(HAND_MOTORS)]
    for i in range(HAND_MOTORS):
        parts.append(_MOTOR_CMD.pack(motor_mode(i, enabled), cmd.q[i], cmd.dq[i], cmd.tau[i], cmd.kp[i], cmd.kd[i], 0))
    parts.append(_CMD_RESERVE.pack(0, 0, 0, 0))
    return b"".join(parts)


def _check_header(data: bytes | memoryview, what: str) -> None:
    if len(data) < 8 or bytes(data[:2]) != CDR_LE_HEADER[:2]:
        raise ValueError(f"{what}: expected little-endian XCDR1 (header 00 01), got {bytes(data[:4]).hex()}")


def decode_handcmd_cdr(data: bytes | memoryview) -> tuple[HandCommand, np.ndarray]:
    """(HandCommand, (7,) enabled flags) from HandCmd_ bytes; ValueError for a malformed message or not 7 motors.

    A disabled motor (status 0) has its gains zeroed in the command: it applies no torque.
    """
    _check_header(data, "HandCmd_")
    (count,) = _COUNT.unpack_from(data, 4)
    expected = 8 + count * _MOTOR_CMD.size + _CMD_RESERVE.size
    if count > MAX_MOTORS or len(data) != expected:
        raise ValueError(f"HandCmd_: {count} motors need {expected} bytes, got {len(data)}")
    if count != HAND_MOTORS:
        raise ValueError(f"HandCmd_: a Dex3-1 hand has {HAND_MOTORS} motors, got {count}")
    rows = np.array([_MOTOR_CMD.unpack_from(data, 8 + i * _MOTOR_CMD.size) for i in range(count)], dtype=np.float64)
    enabled = ((rows[:, 0].astype(np.int64) >> 4) & 0x07) == MOTOR_ENABLED
    on = enabled.astype(np.float64)
    return HandCommand(q=rows[:, 1], dq=rows[:, 2], tau=rows[:, 3] * on, kp=rows[:, 4] * on, kd=rows[:, 5] * on), enabled


@dataclass(frozen=True)
class HandStateSample:
    """One hand's motor state (wire order) from a HandState_."""

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    pressure: np.ndarray  # (sensors, 12) fingertip pressures, empty when the message has none


def encode_handstate_cdr(q: np.ndarray, dq: np.ndarray, tau: np.ndarray, ddq: np.ndarray | None = None,
                         pressure: np.ndarray | None = None, power_v: float = 0.0) -> bytes:
    """HandState_ bytes of a hand's 7 motors (no IMU data: its quaternion is identity)."""
    q, dq, tau = (np.asarray(v, dtype=np.float64) for v in (q, dq, tau))
    ddq = np.zeros(HAND_MOTORS) if ddq is None else np.asarray(ddq, dtype=np.float64)
    for name, v in (("q", q), ("dq", dq), ("tau", tau), ("ddq", ddq)):
        if v.shape != (HAND_MOTORS,):
            raise ValueError(f"HandState_ {name} must have shape ({HAND_MOTORS},), got {v.shape}")
    sensors = np.zeros((0, 12)) if pressure is None else np.asarray(pressure, dtype=np.float64).reshape(-1, 12)
    parts = [CDR_LE_HEADER, _COUNT.pack(HAND_MOTORS)]
    for i in range(HAND_MOTORS):
        parts.append(_MOTOR_STATE.pack(motor_mode(i), q[i], dq[i], ddq[i], tau[i], 0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0))
    parts.append(_COUNT.pack(len(sensors)))
    for row in sensors:
        parts.append(_PRESS.pack(*row, *np.zeros(12), 0, 0))
    parts.append(_IMU.pack(1.0, *np.zeros(12), 0))
    parts.append(_TAIL.pack(power_v, 0.0, 0.0, 0.0, 0, 0, 0, 0))
    return b"".join(parts)


def decode_handstate_cdr(data: bytes | memoryview) -> HandStateSample:
    """HandStateSample from HandState_ bytes; ValueError for a malformed message or not 7 motors."""
    _check_header(data, "HandState_")
    (count,) = _COUNT.unpack_from(data, 4)
    if count != HAND_MOTORS:
        raise ValueError(f"HandState_: a Dex3-1 hand has {HAND_MOTORS} motors, got {count}")
    offset = 8 + count * _MOTOR_STATE.size
    if len(data) < offset + 4:
        raise ValueError(f"HandState_: {len(data)} bytes is too short for {count} motors")
    rows = np.array([_MOTOR_STATE.unpack_from(data, 8 + i * _MOTOR_STATE.size)[1:5] for i in range(count)])
    (sensors,) = _COUNT.unpack_from(data, offset)
    expected = offset + 4 + sensors * _PRESS.size + _IMU.size + _TAIL.size
    if sensors > MAX_MOTORS or len(data) != expected:
        raise ValueError(f"HandState_: {count} motors and {sensors} pressure sensors need {expected} bytes, "
                         f"got {len(data)}")
    pressure = np.array([_PRESS.unpack_from(data, offset + 4 + k * _PRESS.size)[:12] for k in range(sensors)],
                        dtype=np.float64).reshape(sensors, 12)
    return HandStateSample(q=rows[:, 0].astype(np.float64), dq=rows[:, 1].astype(np.float64),
                           tau=rows[:, 3].astype(np.float64), pressure=pressure)


def hand_topics(side: "HandSide | str") -> tuple[str, str]:
    """(command topic, state topic) of a hand."""
    return HAND_TOPICS[hand_side(side)]
