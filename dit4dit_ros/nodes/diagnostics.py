"""Building /diagnostics messages (diagnostic_msgs/DiagnosticArray) from plain values.

Every node reports its health the same way: one DiagnosticStatus per component, named "<node>: <what>",
with key/values that a human reads in rqt_runtime_monitor or `ros2 topic echo /diagnostics`.
"""
from __future__ import annotations

from typing import Any, Mapping

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from dit4dit_ros.data.topics import DIAGNOSTICS_TOPIC as DIAGNOSTICS_TOPIC  # re-exported: nodes import it from here

# Levels as ints (rclpy exposes DiagnosticStatus.OK etc. as 1-byte `bytes`).
OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}



def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def diagnostic_status(
    name: str, level: int, message: str, hardware_id: str = "", values: Mapping[str, Any] | None = None
) -> DiagnosticStatus:
    """One DiagnosticStatus; `values` are stringified (floats with 6 significant digits)."""
    level_byte = bytes([level]) if isinstance(level, int) else bytes(level)
    return DiagnosticStatus(
        level=level_byte,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=_text(v)) for k, v in (values or {}).items()],
    )


def diagnostic_array(stamp: Time, *statuses: DiagnosticStatus) -> DiagnosticArray:
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = list(statuses)
    return msg


def status_level(status: DiagnosticStatus) -> int:
    """The level of a status as an int (the field is a byte in rclpy)."""
    level = status.level
    return level[0] if isinstance(level, (bytes, bytearray)) else int(level)


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}
