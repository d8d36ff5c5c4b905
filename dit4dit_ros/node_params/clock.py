"""The clock server and clock offset nodes' ROS parameters (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import CLOCK_OFFSET_TOPIC, CLOCK_TIME_SERVICE
from dit4dit_ros.utils.param_fields import param_field


@dataclass(frozen=True)
class ClockServerParams:
    """The clock server node's parameters (nodes/clock_server_node.py), run on the robot's host."""

    service_name: str = param_field(CLOCK_TIME_SERVICE, "std_srvs/Trigger service answering 't1_ns t2_ns' (system clock)")
    test_clock_offset_s: float = param_field(
        0.0,
        "added to this node's clock readings: simulates a host whose clock is off (tests and drills only; 0 "
        "on a robot)",
        minimum=-3600.0, maximum=3600.0,
    )


@dataclass(frozen=True)
class ClockOffsetParams:
    """The clock offset node's parameters (nodes/clock_offset_node.py): how often and how the offset to the robot
    host is measured.
    """

    service_name: str = param_field(CLOCK_TIME_SERVICE, "the robot host's clock server (std_srvs/Trigger)")
    offset_topic: str = param_field(CLOCK_OFFSET_TOPIC, "measured offset (sensor_msgs/TimeReference, latched)")
    period_s: float = param_field(2.0, "seconds between measurements", minimum=0.05, maximum=3600.0)
    round_trips: int = param_field(8, "requests per measurement", minimum=1, maximum=1000)
    window: int = param_field(16, "round trips the estimate is chosen from (minimum delay)", minimum=1, maximum=10000)
    request_timeout_s: float = param_field(
        1.0,
        "a request without a reply after this long counts as lost",
        minimum=0.01, maximum=60.0,
    )
    max_offset_s: float = param_field(
        0.05,
        "WARN when |offset| + uncertainty exceeds this (keep it below the executor's max_chunk_latency and "
        "the policy's max_state_age)",
        minimum=0.0, maximum=3600.0,
    )
