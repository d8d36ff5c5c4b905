"""A node's side of the supervisor lifeline (dit4dit_ros/supervision/lifeline.py), for every node's main.

`connect_supervisor` right after rclpy.init (so that SIGTERM already goes through rclpy's or the node's own
handler): from then on the node shuts down to its safe state when `dit4dit run` dies or hangs.
`beat_from(node, link)` once the node exists: a timer on the node's executor writes the heartbeats, so they
stop when the node's event loop hangs, not only when the process stops. The timer runs on the steady clock:
with use_sim_time a lock-stepped simulator freezes /clock while the policy thinks, which is not a hang.
A node started without a supervisor (by hand, by a launch file) gets None and runs as before.
"""
from __future__ import annotations

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.timer import Timer

from dit4dit_ros.supervision.lifeline import SupervisorLink, shut_down_this_process


def connect_supervisor(name: str) -> SupervisorLink | None:
    """Watch the supervisor this process was started by (None without one)."""
    link = SupervisorLink.from_environment()
    if link is None:
        return None
    logger = rclpy.logging.get_logger(name)
    link.watch(lambda reason, signalled: shut_down_this_process(reason, signalled, log=logger.error))
    return link


def beat_from(node: Node, link: SupervisorLink | None) -> Timer | None:
    """Heartbeats to the supervisor from `node`'s own executor (None without a supervisor)."""
    if link is None:
        return None
    # Its own callback group: in a multi-threaded executor a slow state or diagnostics publish of the node does
    # not delay the beat; a single-threaded loop that hangs still stops it.
    return node.create_timer(link.timing.period, link.beat, callback_group=MutuallyExclusiveCallbackGroup(),
                             clock=Clock(clock_type=ClockType.STEADY_TIME))
