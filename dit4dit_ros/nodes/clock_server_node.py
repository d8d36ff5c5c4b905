"""Clock server (robot side of a split-host graph): answers time requests so other hosts can measure their offset.

Service `service_name` (std_srvs/Trigger): the reply's message is "t1_ns t2_ns", this host's system clock in
integer nanoseconds when the request was taken and when the reply was made (utils/clock_offset.py). The
robot's computer serves it, because that clock stamps every observation (camera frames, joint states) and so
every action chunk; the policy host's `clock_offset` node measures against it.

The system clock is used even under use_sim_time: the offset that matters is between the hosts' wall clocks.
`test_clock_offset_s` shifts this node's readings, to stand in for a host whose clock is off (tests, drills).
"""
from __future__ import annotations

import sys

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_srvs.srv import Trigger

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.utils.param_fields import param_specs
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.utils.clock_offset import format_server_times
from dit4dit_ros.node_params.clock import ClockServerParams

NODE_NAME = "clock_server"

PARAMETERS: tuple[ParamSpec, ...] = param_specs(ClockServerParams)


class ClockServerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self._clock = Clock(clock_type=ClockType.SYSTEM_TIME)
        self._shift_ns = int(round(p["test_clock_offset_s"] * 1e9))
        self.requests = 0
        self.create_service(Trigger, p["service_name"], self._on_request)
        if self._shift_ns:
            self.get_logger().warning(f"clock readings shifted by {p['test_clock_offset_s']} s (test_clock_offset_s)")
        self.get_logger().info(f"serving this host's system clock on {p['service_name']}")

    def _now_ns(self) -> int:
        return self._clock.now().nanoseconds + self._shift_ns

    def _on_request(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        t1 = self._now_ns()
        self.requests += 1
        response.success = True
        response.message = format_server_times(t1, self._now_ns())
        return response


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros clock_server_node` / `python -m dit4dit_ros.nodes.clock_server_node`."""
    return run_node(ClockServerNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
