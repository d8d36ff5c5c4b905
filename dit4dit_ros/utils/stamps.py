"""ROS time stamps as float seconds, written once.

builtin_interfaces/Time (a header's stamp, /clock) and Duration carry (sec, nanosec); the cores work in float
seconds. Duck-typed on those two fields so that this module needs no ROS import and the ROS-free cores and the
nodes share it.
"""
from __future__ import annotations

from typing import Protocol


class StampLike(Protocol):
    """builtin_interfaces/Time or Duration, or anything else with integer sec and nanosec fields."""

    sec: int
    nanosec: int


def stamp_to_seconds(stamp: StampLike) -> float:
    """Seconds of a Time/Duration message (float: ~0.2 us resolution at today's epoch, enough for control)."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> tuple[int, int]:
    """(sec, nanosec) of float seconds, rounded to the nanosecond (nanosec always in [0, 1e9), carry into sec)."""
    ns = int(round(seconds * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000
