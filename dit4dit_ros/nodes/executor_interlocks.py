"""The executor node's interlocks that need ROS or DDS: parameters, authority, enable checks (issues 17, 19).

Kept out of nodes/executor_node.py (the data-moving shell) so that each concern has one place:
- parameters of the LowState gate, the no-effect watchdog, the clip alarm and the remote (-> InterlockConfig,
  used by ExecutorCore in the control process): control/interlock_params.py (ROS-free, re-exported here);
- enable checks the core asks before any enable (service or remote) run in the control process
  (control/rt/process.py): a matched reader on the command topic (DDS publication-matched status of its
  writer: Unitree's simulators have no rt/arm_sdk reader) and the clock offset measured by `clock_offset`
  (`/dit4dit/clock_offset/status`), which this module forwards to it;
- authority (security/authority.py): `~/enable` and `~/reset_estop` (std_srvs/Trigger) work only under the
  `open` policy; `~/enable_with_token` and `~/reset_estop_with_token` carry the token. Their type is
  diagnostic_msgs/srv/AddDiagnostics (request: one string, here the token; response: success, message): a
  standard type every ROS 2 install has, so no custom interface package is needed on any host:
  `ros2 service call /executor/enable_with_token diagnostic_msgs/srv/AddDiagnostics "{load_namespace: $(cat FILE)}"`.
  E-stop and disable stay open to everyone.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.srv import AddDiagnostics

from dit4dit_ros.control.chunk import Verdict
from dit4dit_ros.control.interlock_params import (  # noqa: F401 - re-exported
    CLOCK_OFFSET_STATUS_TOPIC,
    INTERLOCK_PARAMETERS,
    clock_offset_check,
    interlock_config,
)
from dit4dit_ros.control.interlocks import ClockOffsetReport
from dit4dit_ros.g1.remote import parse_bindings
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import LATCHED
from dit4dit_ros.security.authority import Authority

def clock_report(status: DiagnosticStatus, received_at: float) -> ClockOffsetReport:
    """A ClockOffsetReport of clock_offset's status (ERROR, or values missing / not finite: an error report)."""
    values = diag.status_values(status)
    try:
        offset, uncertainty = float(values["offset_s"]), float(values["uncertainty_s"])
    except (KeyError, ValueError):
        return ClockOffsetReport(None, None, status.message or "no offset_s/uncertainty_s in the status", received_at)
    if not (math.isfinite(offset) and math.isfinite(uncertainty)):
        return ClockOffsetReport(None, None, f"non-finite offset {offset!r} +- {uncertainty!r}", received_at)
    error = status.message if diag.status_level(status) == diag.ERROR else ""
    return ClockOffsetReport(offset, uncertainty, error, received_at)


class ExecutorInterlocks:
    """The clock-offset subscription (forwarded to the control process) and the token services of an executor node.

    `node` provides: p, rt (control/rt/client.py), enable_request(), reset_estop_request(), get_logger(),
    create_subscription/create_service. `clock` is the node's copy of the check, for its status; the control
    process holds the one every enable asks.
    """

    def __init__(self, node, callback_group=None) -> None:
        p = node.p
        self._node = node
        bindings = {b.action: str(b).partition("=")[2] for b in parse_bindings(p["remote_bindings"])}  # "R2+A"
        self.authority = Authority(p["authority"], p["authority_token_file"] or None,
                                   bindings if p["remote_actions"] else {})
        self.clock = clock_offset_check(p)
        node.create_subscription(DiagnosticStatus, p["clock_offset_topic"], self._on_clock_status, LATCHED,
                                 callback_group=callback_group)
        for action, request in (("enable", node.enable_request), ("reset_estop", node.reset_estop_request)):
            node.create_service(AddDiagnostics, f"~/{action}_with_token", self._token_handler(action, request),
                                callback_group=callback_group)

    def _on_clock_status(self, msg: DiagnosticStatus) -> None:
        report = clock_report(msg, time.monotonic())
        self.clock.update(report)
        self._node.rt.clock_report(report)

    def _token_handler(self, action: str, request: Callable[[], Verdict]):
        def handle(req: AddDiagnostics.Request, response: AddDiagnostics.Response) -> AddDiagnostics.Response:
            verdict = self.authority.check_token(action, req.load_namespace)
            if verdict:
                verdict = request()
            else:
                self._node.get_logger().warning(f"{action} refused: {verdict.reason}")
            response.success, response.message = bool(verdict), verdict.reason
            return response
        return handle

    def check_plain(self, action: str) -> Verdict:
        verdict = self.authority.check_plain(action)
        if not verdict:
            self._node.get_logger().warning(f"{action} refused: {verdict.reason}")
        return verdict

    def status(self) -> dict:
        return {"authority": self.authority.policy, "authority_refused": self.authority.refused,
                "clock_offset": None if self.clock.report is None else self.clock.report.offset}

    def close(self) -> None:
        self.authority.close()


__all__ = ["INTERLOCK_PARAMETERS", "ExecutorInterlocks", "interlock_config", "clock_report", "clock_offset_check"]
