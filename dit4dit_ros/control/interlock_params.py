"""The executor's interlock parameters (issues 17, 19), declared once and ROS-free: the node declares them, the
real-time control process builds the core's InterlockConfig from the same validated values."""
from __future__ import annotations

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.control.config import InterlockConfig
from dit4dit_ros.control.interlocks import CLOCK_CHECK_MODES, ClockOffsetCheck
from dit4dit_ros.data.topics import CLOCK_OFFSET_STATUS_TOPIC
from dit4dit_ros.g1.lowstate_gate import CRC_POLICIES
from dit4dit_ros.g1.remote import DEFAULT_REMOTE_BINDINGS
from dit4dit_ros.g1.variants import ANY_MODE_MACHINE, SUPPORTED_VARIANTS
from dit4dit_ros.security.authority import AUTHORITY_POLICIES, remote_may_enable

_I = InterlockConfig()

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


def clock_offset_check(p: dict) -> ClockOffsetCheck:
    """The ClockOffsetCheck of validated parameter values (tolerance: the smaller of the two limits)."""
    tolerance = min(p["max_clock_offset"], p["max_chunk_latency"])
    return ClockOffsetCheck(p["clock_offset_check"], tolerance, p["clock_offset_max_age"], p["clock_offset_topic"])


__all__ = ["INTERLOCK_PARAMETERS", "CLOCK_OFFSET_STATUS_TOPIC", "interlock_config", "clock_offset_check"]
