"""Clock offset (policy-host side of a split-host graph): measures this host's clock against the robot's.

Every `period_s` it makes `round_trips` requests to the robot's clock server (nodes/clock_server_node.py),
feeds them to ClockOffsetEstimator (utils/clock_offset.py: NTP-style, minimum-delay filter) and publishes:
- `offset_topic` (sensor_msgs/TimeReference, latched): header.stamp = this host's system time of the
  measurement, time_ref = the robot's time at that instant, source = the server's service name. So
  robot_clock - this_clock = time_ref - header.stamp. The executor reads it to refuse enable when the offset
  (plus its uncertainty) exceeds its chunk-age tolerance;
- `offset_topic`/status (diagnostic_msgs/DiagnosticStatus, latched) and /diagnostics: offset_s,
  uncertainty_s (|true offset - offset_s| <= uncertainty_s), delay_s, samples, age_s; WARN above
  `max_offset_s`, ERROR when the server does not answer. The executor's enable check needs the uncertainty
  (refuse when |offset_s| + uncertainty_s exceeds the chunk-age tolerance), which TimeReference cannot carry.
"""
from __future__ import annotations

import sys
import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import TimeReference
from std_srvs.srv import Trigger

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import DIAGNOSTICS, LATCHED
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.utils.param_fields import param_specs
from dit4dit_ros.nodes.spin import ending_with_context, run_node
from dit4dit_ros.utils.clock_offset import ClockOffsetEstimator, OffsetEstimate, RoundTrip, parse_server_times
from dit4dit_ros.node_params.clock import ClockOffsetParams

NODE_NAME = "clock_offset"

PARAMETERS: tuple[ParamSpec, ...] = param_specs(ClockOffsetParams)


class ClockOffsetNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self._clock = Clock(clock_type=ClockType.SYSTEM_TIME)
        self.estimator = ClockOffsetEstimator(p["window"])
        self.estimate: OffsetEstimate | None = None
        self.lost = 0
        self.rejected = 0
        self.last_error = ""
        self._group = MutuallyExclusiveCallbackGroup()
        self._client = self.create_client(Trigger, p["service_name"], callback_group=self._group)
        self._pub = self.create_publisher(TimeReference, p["offset_topic"], LATCHED)
        self._status_pub = self.create_publisher(diag.DiagnosticStatus, p["offset_topic"] + "/status", LATCHED)
        self._diag = self.create_publisher(diag.DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._measure_loop, name="clock-offset", daemon=True)
        self._thread.start()
        self.get_logger().info(f"measuring this host's clock against {p['service_name']} every {p['period_s']} s")

    def _now(self) -> float:
        return self._clock.now().nanoseconds * 1e-9

    # -- measurement thread: blocking requests; the executor thread completes their futures ---------------------
    def _measure_loop(self) -> None:
        with ending_with_context(self):  # a request in flight when the context is shut down: the node is ending
            self._measure_until_stopped()

    def _measure_until_stopped(self) -> None:
        while not self._stop.is_set():
            if self._client.wait_for_service(timeout_sec=min(1.0, self.p["period_s"])):
                for _ in range(self.p["round_trips"]):
                    if self._stop.is_set():
                        return
                    self._one_round_trip()
                self.estimate = self.estimator.estimate()
                self._publish()
            else:
                self.last_error = f"no clock server on {self.p['service_name']}"
            self._publish_diagnostics()
            self._stop.wait(self.p["period_s"])

    def _one_round_trip(self) -> None:
        done = threading.Event()
        t0 = self._now()
        future = self._client.call_async(Trigger.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.p["request_timeout_s"]):
            self._client.remove_pending_request(future)
            self.lost += 1
            self.last_error = f"no reply from {self.p['service_name']} within {self.p['request_timeout_s']} s"
            return
        t3 = self._now()
        try:
            t1_ns, t2_ns = parse_server_times(future.result().message)
            self.estimator.add(RoundTrip(t0, t1_ns * 1e-9, t2_ns * 1e-9, t3))
        except ValueError as exc:
            self.rejected += 1
            self.last_error = str(exc)

    def _publish(self) -> None:
        est = self.estimate
        if est is None:
            return
        msg = TimeReference()
        msg.header.stamp = Time(nanoseconds=int(round(est.measured_at * 1e9))).to_msg()
        msg.header.frame_id = ""
        msg.time_ref = Time(nanoseconds=int(round((est.measured_at + est.offset) * 1e9))).to_msg()
        msg.source = self.p["service_name"]
        self._pub.publish(msg)

    def diagnostic(self) -> diag.DiagnosticStatus:
        est = self.estimate
        values = {"lost_requests": self.lost, "rejected_replies": self.rejected, "server": self.p["service_name"],
                  "max_offset_s": self.p["max_offset_s"]}
        if est is None:
            return diag.diagnostic_status(f"{NODE_NAME}: robot clock", diag.ERROR,
                                          self.last_error or "no measurement yet", values=values)
        values.update(offset_s=est.offset, uncertainty_s=est.uncertainty, delay_s=est.delay, samples=est.samples,
                      age_s=self._now() - est.measured_at)
        text = f"robot clock - this clock = {est.offset * 1e3:+.2f} ms (+-{est.uncertainty * 1e3:.2f} ms)"
        level = diag.WARN if est.exceeds(self.p["max_offset_s"]) else diag.OK
        if level == diag.WARN:
            text += f": exceeds max_offset_s {self.p['max_offset_s']} s; synchronise the hosts (chrony/PTP)"
        return diag.diagnostic_status(f"{NODE_NAME}: robot clock", level, text, values=values)

    def _publish_diagnostics(self) -> None:
        status = self.diagnostic()
        self._status_pub.publish(status)
        self._diag.publish(diag.diagnostic_array(self.get_clock().now().to_msg(), status))

    def destroy_node(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros clock_offset_node` / `python -m dit4dit_ros.nodes.clock_offset_node`."""
    return run_node(ClockOffsetNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
