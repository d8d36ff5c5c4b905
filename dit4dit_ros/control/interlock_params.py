"""The executor's interlock parameters (issues 17, 19), declared once and ROS-free: the node declares them, the
real-time control process builds the core's InterlockConfig from the same validated values."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.control.config import InterlockConfig
from dit4dit_ros.control.interlocks import CLOCK_CHECK_MODES, ClockOffsetCheck
from dit4dit_ros.data.topics import CLOCK_OFFSET_STATUS_TOPIC
from dit4dit_ros.security.authority import AUTHORITY_POLICIES, remote_may_enable
from dit4dit_ros.utils.param_fields import from_params, param_field, param_specs

@dataclass(frozen=True)
class InterlockNodeParams:
    """The executor node's interlock settings that are not the core's (InterlockConfig): the command-reader check,
    the enable authority and the policy-host clock-offset check."""

    require_command_reader: bool = param_field(
        True,
        "refuse enable while nothing reads the command topic (DDS matched readers: rt/arm_sdk has none on "
        "Unitree's simulators)",
    )
    authority: str = param_field(
        "open",
        "who may enable and reset the e-stop: open (anyone on the ROS domain: simulation), token "
        "(~/enable_with_token with the token file), remote (the wireless remote), token_or_remote",
        choices=AUTHORITY_POLICIES,
    )
    authority_token_file: str = param_field(
        "",
        "where the executor writes its token at start (mode 0600); empty = $DIT4DIT_EXECUTOR_TOKEN_FILE or "
        "$XDG_RUNTIME_DIR/dit4dit-UID/executor.token",
    )
    clock_offset_check: str = param_field(
        "when_present",
        "refuse enable on a bad policy-host clock offset: off, when_present (only if clock_offset reports "
        "one), required (split host: also without a report)",
        choices=CLOCK_CHECK_MODES,
    )
    clock_offset_topic: str = param_field(CLOCK_OFFSET_STATUS_TOPIC, "diagnostic_msgs/DiagnosticStatus of clock_offset")
    max_clock_offset: float = param_field(
        0.05,
        "refuse enable when |offset| + uncertainty exceeds this or max_chunk_latency, whichever is smaller "
        "[s]",
        minimum=0.001, maximum=10.0,
    )
    clock_offset_max_age: float = param_field(
        10.0,
        "a clock-offset report older than this counts as none [s]",
        minimum=0.1, maximum=3600.0,
    )


INTERLOCK_PARAMETERS: tuple[ParamSpec, ...] = (
    *param_specs(InterlockConfig),  # the LowState gate, no-effect watchdog, clip alarm, remote buttons
    *param_specs(InterlockNodeParams),
)


def interlock_config(p: dict) -> InterlockConfig:
    """The core's InterlockConfig of validated parameter values."""
    return from_params(InterlockConfig, p, remote_may_enable=remote_may_enable(p["authority"]))


def clock_offset_check(p: dict) -> ClockOffsetCheck:
    """The ClockOffsetCheck of validated parameter values (tolerance: the smaller of the two limits)."""
    tolerance = min(p["max_clock_offset"], p["max_chunk_latency"])
    return ClockOffsetCheck(p["clock_offset_check"], tolerance, p["clock_offset_max_age"], p["clock_offset_topic"])


__all__ = ["INTERLOCK_PARAMETERS", "CLOCK_OFFSET_STATUS_TOPIC", "interlock_config", "clock_offset_check"]
