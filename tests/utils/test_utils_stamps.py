"""ROS stamps <-> float seconds, the one conversion every node and the evaluation use."""
from __future__ import annotations

from builtin_interfaces.msg import Duration, Time

from dit4dit_ros.utils.stamps import seconds_to_stamp, stamp_to_seconds


def test_stamp_to_seconds_reads_time_and_duration_messages():
    assert stamp_to_seconds(Time(sec=12, nanosec=500_000_000)) == 12.5
    assert stamp_to_seconds(Duration(sec=0, nanosec=2_000_000)) == 0.002


def test_seconds_to_stamp_rounds_to_the_nanosecond_and_carries_into_sec():
    assert seconds_to_stamp(12.5) == (12, 500_000_000)
    # 1.9999999999 s rounds up to 2 s: nanosec must wrap to 0 with the second carried, not (1, 0)
    assert seconds_to_stamp(1.9999999999) == (2, 0)
    sec, nanosec = seconds_to_stamp(1_733_100_000.123456789)
    assert 0 <= nanosec < 1_000_000_000
    assert abs(stamp_to_seconds(Time(sec=sec, nanosec=nanosec)) - 1_733_100_000.123456789) < 1e-6
