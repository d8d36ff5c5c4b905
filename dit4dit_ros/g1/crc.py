"""The CRC that the G1 (unitree_hg) LowCmd_/LowState_ messages carry, in pure Python.

The robot drops a LowCmd whose `crc` does not match, so every command we send must carry it, and the
simulator must check it the same way. The SDK computes it with a compiled helper (`crc_amd64.so`) that does
not exist for every platform we deploy on; this module needs only the standard library.

Definition (docs/platform.md, checked against the SDK): CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no input or
output reflection, no final xor) over the message packed as the C struct (little-endian, natural alignment),
read as 32-bit little-endian words, each word fed most-significant bit first; the last word (the crc itself)
is excluded.

Speed: the bitwise definition costs ~1 ms per LowState in Python. Feeding words MSB-first is the same as
feeding their big-endian bytes, and a non-reflected CRC equals the bit-reversal of the reflected CRC of the
bit-reversed input, so `zlib.crc32` (reflected CRC-32, same polynomial and init, final xor 0xFFFFFFFF) does the
work in C: ~10 us per message.
"""
from __future__ import annotations

import struct
import sys
import zlib
from array import array
from typing import Any

from dit4dit_ros.g1.joints import NUM_MOTOR_SLOTS

LOWCMD_TYPENAME = "unitree_hg.msg.dds_.LowCmd_"
LOWSTATE_TYPENAME = "unitree_hg.msg.dds_.LowState_"

# Struct layouts without the trailing crc word (the CRC covers everything before it).
# LowCmd_: mode_pr, mode_machine, 35 x MotorCmd_(mode, q, dq, tau, kp, kd, reserve), reserve[4]
LOWCMD_BODY = struct.Struct("<2B2x" + "B3x5fI" * NUM_MOTOR_SLOTS + "4I")
# LowState_: version[2], mode_pr, mode_machine, tick, IMUState_(quat4, gyro3, acc3, rpy3, temperature),
# 35 x MotorState_(mode, q, dq, ddq, tau_est, temperature[2], vol, sensor[2], motorstate, reserve[4]),
# wireless_remote[40], reserve[4]
LOWSTATE_BODY = struct.Struct("<2I2B2xI" + "13fh2x" + "B3x4f2hf7I" * NUM_MOTOR_SLOTS + "40B4I")

LOWCMD_PACKED_SIZE = LOWCMD_BODY.size + 4  # 1004 bytes with the crc word
LOWSTATE_PACKED_SIZE = LOWSTATE_BODY.size + 4  # 2092 bytes with the crc word

_POLY = 0x04C11DB7
_BIT_REVERSED_BYTES = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def crc32_mpeg2_words(data: bytes) -> int:
    """CRC-32/MPEG-2 of `data` read as little-endian 32-bit words fed MSB-first (len(data) % 4 == 0)."""
    if len(data) % 4:
        raise ValueError(f"CRC input must be whole 32-bit words, got {len(data)} bytes")
    words = array("I", data)
    if words.itemsize != 4:  # pragma: no cover - every supported platform has a 4-byte unsigned int
        raise RuntimeError("array('I') is not 32-bit on this platform")
    if sys.byteorder == "little":
        words.byteswap()  # now each word's bytes are in big-endian (MSB-first) order
    stream = words.tobytes().translate(_BIT_REVERSED_BYTES)
    return _reverse32(zlib.crc32(stream) ^ 0xFFFFFFFF)


def crc32_mpeg2_words_bitwise(data: bytes) -> int:
    """The same CRC computed literally from its definition; slow, kept as the reference for tests."""
    if len(data) % 4:
        raise ValueError(f"CRC input must be whole 32-bit words, got {len(data)} bytes")
    crc = 0xFFFFFFFF
    for (word,) in struct.iter_unpack("<I", data):
        for bit in range(31, -1, -1):
            feedback = ((crc >> 31) & 1) ^ ((word >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if feedback:
                crc ^= _POLY
    return crc


def _check_type(msg: Any, typename: str) -> None:
    actual = getattr(msg, "__idl_typename__", type(msg).__name__)
    if actual != typename:
        raise TypeError(f"expected a {typename} message, got {actual}")


def pack_lowcmd(msg: Any) -> bytes:
    """The LowCmd_ packed as the robot's C struct, without the crc word."""
    _check_type(msg, LOWCMD_TYPENAME)
    if len(msg.motor_cmd) != NUM_MOTOR_SLOTS:
        raise ValueError(f"LowCmd_.motor_cmd must have {NUM_MOTOR_SLOTS} entries, got {len(msg.motor_cmd)}")
    values: list = [msg.mode_pr, msg.mode_machine]
    for m in msg.motor_cmd:
        values += (m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve)
    values += msg.reserve
    return LOWCMD_BODY.pack(*values)


def pack_lowstate(msg: Any) -> bytes:
    """The LowState_ packed as the robot's C struct, without the crc word."""
    _check_type(msg, LOWSTATE_TYPENAME)
    if len(msg.motor_state) != NUM_MOTOR_SLOTS:
        raise ValueError(f"LowState_.motor_state must have {NUM_MOTOR_SLOTS} entries, got {len(msg.motor_state)}")
    imu = msg.imu_state
    values: list = [*msg.version, msg.mode_pr, msg.mode_machine, msg.tick]
    values += imu.quaternion
    values += imu.gyroscope
    values += imu.accelerometer
    values += imu.rpy
    values.append(imu.temperature)
    for m in msg.motor_state:
        values += (m.mode, m.q, m.dq, m.ddq, m.tau_est)
        values += m.temperature
        values.append(m.vol)
        values += m.sensor
        values.append(m.motorstate)
        values += m.reserve
    values += msg.wireless_remote
    values += msg.reserve
    return LOWSTATE_BODY.pack(*values)


def lowcmd_crc(msg: Any) -> int:
    """The crc a unitree_hg LowCmd_ must carry (the value of its own `crc` field is ignored)."""
    return crc32_mpeg2_words(pack_lowcmd(msg))


def lowstate_crc(msg: Any) -> int:
    """The crc a unitree_hg LowState_ must carry (the value of its own `crc` field is ignored)."""
    return crc32_mpeg2_words(pack_lowstate(msg))
