"""The executor node's interlocks that need ROS or DDS: parameters, authority, enable checks (issues 17, 19).

Kept out of nodes/executor_node.py (the data-moving shell) so that each concern has one place:
- parameters of the LowState gate, the no-effect watchdog, the clip alarm and the remote (-> InterlockConfig,
  used by ExecutorCore wherever its control loop runs);
- enable checks the core asks before any enable (service or remote): a matched reader on the command topic
  (DDS publication-matched status: Unitree's simulators have no rt/arm_sdk reader) and the clock offset
  measured by `clock_offset` (`/dit4dit/clock_offset/status`);
- authority (security/authority.py): `~/enable` and `~/reset_estop` (std_srvs/Trigger) work only under the
  `open` policy; `~/enable_with_token` and `~/reset_estop_with_token` carry the token. Their type is
  diagnostic_msgs/srv/AddDiagnostics (request: one string, here the token; response: success, message): a
  standard type every ROS 2 install has, so no custom interface package is needed on any host:
  `ros2 service call /executor/enable_with_token diagnostic_msgs/srv/AddDiagnostics "{load_namespace: $(cat FILE)}"`.
  E-stop and disable stay open to everyone.
"""
from __future__ import annotations

import math
from typing import Callable

from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.srv import AddDiagnostics

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.control.chunk import Verdict
from dit4dit_ros.control.config import InterlockConfig
from dit4dit_ros.control.interlocks import (
    CLOCK_CHECK_MODES,
    ClockOffsetCheck,
    ClockOffsetReport,
    command_reader_check,
)
from dit4dit_ros.g1.lowstate_gate import CRC_POLICIES
from dit4dit_ros.g1.remote import DEFAULT_REMOTE_BINDINGS, parse_bindings
from dit4dit_ros.g1.variants import ANY_MODE_MACHINE, SUPPORTED_VARIANTS
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import LATCHED
from dit4dit_ros.security.authority import AUTHORITY_POLICIES, Authority, remote_may_enable

_I = InterlockConfig()
CLOCK_OFFSET_STATUS_TOPIC = "/dit4dit/clock_offset/status"

INTERLOCK_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("lowstate_crc_policy", _I.lowstate_crc_policy, "verify: drop LowState whose crc does not match (robot); "
              "accept_zero: also accept crc 0 (Unitree's own simulators); off: no check", choices=CRC_POLICIES),
    ParamSpec("robot_variant", _I.robot_variant, "the G1 variant this deployment drives (g1/variants.py)",
              choices=SUPPORTED_VARIANTS),
    ParamSpec("expected_mode_machine", ANY_MODE_MACHINE, "-1: any mode_machine of robot_variant; else the exact value "
              "(0 only for Unitree's simulators, which leave it unset)", minimum=-1, maximum=255),
    ParamSpec("require_command_reader", True, "refuse enable while nothing reads the command topic (DDS matched "
              "readers: rt/arm_sdk has none on Unitree's simulators)"),
    ParamSpec("no_effect_tolerance", _I.no_effect_tolerance, "measured joints farther than this from the commands "
              "[rad] ...", minimum=0.001, maximum=3.0),
    ParamSpec("no_effect_timeout", _I.no_effect_timeout, "... for this long while running -> DAMPING 'commands have "
              "no effect' [s]; 0 = off", minimum=0.0, maximum=60.0),
    ParamSpec("clip_alarm_window", _I.clip_alarm_window, "window of the continuous-clipping alarm [s]",
              minimum=0.01, maximum=60.0),
    ParamSpec("clip_alarm_fraction", _I.clip_alarm_fraction, "ERROR diagnostic while the reference was clipped into "
              "the position limits in at least this fraction of the window's ticks; 0 = off", minimum=0.0, maximum=1.0),
    ParamSpec("remote_actions", _I.remote_actions, "act on the G1 wireless remote's buttons (in LowState)"),
    ParamSpec("remote_bindings", list(DEFAULT_REMOTE_BINDINGS), "action=Button+Button for estop, enable, disable, "
              "reset_estop (g1/remote.py; estop is required)", type="str_array"),
    ParamSpec("authority", "open", "who may enable and reset the e-stop: open (anyone on the ROS domain: simulation), "
              "token (~/enable_with_token with the token file), remote (the wireless remote), token_or_remote",
              choices=AUTHORITY_POLICIES),
    ParamSpec("authority_token_file", "", "where the executor writes its token at start (mode 0600); empty = "
              "$DIT4DIT_EXECUTOR_TOKEN_FILE or $XDG_RUNTIME_DIR/dit4dit-UID/executor.token"),
    ParamSpec("clock_offset_check", "when_present", "refuse enable on a bad policy-host clock offset: off, "
              "when_present (only if clock_offset reports one), required (split host: also without a report)",
              choices=CLOCK_CHECK_MODES),
    ParamSpec("clock_offset_topic", CLOCK_OFFSET_STATUS_TOPIC, "diagnostic_msgs/DiagnosticStatus of clock_offset"),
    ParamSpec("max_clock_offset", 0.05, "refuse enable when |offset| + uncertainty exceeds this or max_chunk_latency, "
              "whichever is smaller [s]", minimum=0.001, maximum=10.0),
    ParamSpec("clock_offset_max_age", 10.0, "a clock-offset report older than this counts as none [s]",
              minimum=0.1, maximum=3600.0),
)


def interlock_config(p: dict) -> InterlockConfig:
    """The core's InterlockConfig of validated parameter values."""
    return InterlockConfig(
        lowstate_crc_policy=p["lowstate_crc_policy"],
        robot_variant=p["robot_variant"],
        expected_mode_machine=p["expected_mode_machine"],
        no_effect_tolerance=p["no_effect_tolerance"],
        no_effect_timeout=p["no_effect_timeout"],
        clip_alarm_window=p["clip_alarm_window"],
        clip_alarm_fraction=p["clip_alarm_fraction"],
        remote_actions=p["remote_actions"],
        remote_bindings=tuple(p["remote_bindings"]),
        remote_may_enable=remote_may_enable(p["authority"]),
    )


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
    """Attaches the checks, the clock-offset subscription and the token services to an executor node.

    `node` provides: core, writer, p, _now(), _lock (serialises core calls), enable_request(),
    reset_estop_request(), create_subscription/create_service.
    """

    def __init__(self, node, callback_group=None) -> None:
        p = node.p
        self._node = node
        bindings = {b.action: str(b).partition("=")[2] for b in parse_bindings(p["remote_bindings"])}  # "R2+A"
        self.authority = Authority(p["authority"], p["authority_token_file"] or None,
                                   bindings if p["remote_actions"] else {})
        tolerance = min(p["max_clock_offset"], p["max_chunk_latency"])
        self.clock = ClockOffsetCheck(p["clock_offset_check"], tolerance, p["clock_offset_max_age"],
                                      p["clock_offset_topic"])
        if p["require_command_reader"]:
            node.core.add_enable_check(command_reader_check(lambda: self._matched_readers(), node.path.value))
        node.core.add_enable_check(self.clock.verdict)
        node.create_subscription(DiagnosticStatus, p["clock_offset_topic"], self._on_clock_status, LATCHED,
                                 callback_group=callback_group)
        for action, request in (("enable", node.enable_request), ("reset_estop", node.reset_estop_request)):
            node.create_service(AddDiagnostics, f"~/{action}_with_token", self._token_handler(action, request),
                                callback_group=callback_group)

    def _matched_readers(self) -> int:
        writer = self._node.writer
        return 0 if writer is None else writer.matched_readers()

    def _on_clock_status(self, msg: DiagnosticStatus) -> None:
        report = clock_report(msg, self._node._now())
        with self._node._lock:
            self.clock.update(report)

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


__all__ = ["INTERLOCK_PARAMETERS", "ExecutorInterlocks", "interlock_config", "clock_report"]
