"""Configuration of the chunk executor: scheduling, safety limits, watchdogs, gains.

Every limit the safety filter enforces is in `SafetyConfig`, so that one object says what "safe" means for
a deployment and the node's parameters map onto it one to one. Per-joint arrays are derived from the G1
joint table (`dit4dit_ros.g1.joints`) scaled by these fields, so the filter never needs joint names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dit4dit_ros.g1.joints import G1_JOINTS, JOINT_NAMES, NUM_JOINTS, joint_indices
from dit4dit_ros.g1.lowstate_gate import CRC_POLICIES
from dit4dit_ros.g1.remote import DEFAULT_REMOTE_BINDINGS, parse_bindings
from dit4dit_ros.g1.variants import ANY_MODE_MACHINE, SUPPORTED_VARIANTS, supported_variant
from dit4dit_ros.utils.param_fields import param_field


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")


@dataclass(frozen=True)
class SafetyConfig:
    """Limits applied to EVERY command (policy and teleop alike).

    position_margin: distance kept from each joint's hardware position limits (rad).
    max_velocity / max_acceleration: caps on the command's rate of change (rad/s, rad/s^2); the per-joint
        velocity cap is min(max_velocity, velocity_scale * hardware velocity limit).
    torque_scale: the predicted PD torque kp*(q_des-q)+kd*(dq_des-dq) is kept within torque_scale times the
        joint's hardware torque limit, by limiting q_des (and dq_des).
    max_tracking_error: largest allowed |q_des - q_measured| (rad).
    """

    position_margin: float = param_field(0.05, "distance kept from the joint position limits [rad]",
                                         minimum=0.0, maximum=0.5)
    max_velocity: float = param_field(3.0, "command velocity cap [rad/s]", minimum=0.01, maximum=40.0)
    velocity_scale: float = param_field(1.0, "fraction of each joint's hardware velocity limit", minimum=0.01,
                                        maximum=1.0)
    max_acceleration: float = param_field(30.0, "command acceleration cap [rad/s^2]", minimum=0.1, maximum=5000.0)
    torque_scale: float = param_field(0.8, "predicted PD torque kept within this fraction of the torque limits",
                                      minimum=0.01, maximum=1.0)
    max_tracking_error: float = param_field(0.3, "largest |q_des - q_measured| [rad]", minimum=0.01, maximum=3.0)
    send_velocity: bool = param_field(True, "send the command velocity as dq (else dq = 0: pure damping)")

    def __post_init__(self) -> None:
        _non_negative("position_margin", self.position_margin)
        for name in ("max_velocity", "max_acceleration", "max_tracking_error"):
            _positive(name, getattr(self, name))
        if not 0 < self.velocity_scale <= 1:
            raise ValueError(f"velocity_scale must be in (0, 1], got {self.velocity_scale}")
        if not 0 < self.torque_scale <= 1:
            raise ValueError(f"torque_scale must be in (0, 1], got {self.torque_scale}")
        span = min(j.position_max - j.position_min for j in G1_JOINTS)
        if 2 * self.position_margin >= span:
            raise ValueError(f"position_margin {self.position_margin} leaves no range on the narrowest joint (span {span:.3f} rad)")


@dataclass(frozen=True)
class SchedulerConfig:
    """How chunks become one continuous reference trajectory.

    blend_time: length of the quintic transition from the command being executed into a new chunk (s).
    teleop_priority_time: joints that received a teleop target within this time are not taken by policy chunks.
    max_chunk_latency: a chunk whose observation is older than this when it arrives is rejected (s).
    max_future_stamp: tolerated clock skew for a chunk stamped in the future (s).
    ensemble: ACT-style temporal ensembling of overlapping chunks; ensemble_decay is ACT's m (weight of
        the i-th oldest prediction is exp(-m*i): m > 0 favours older predictions, as in ACT).
    max_chunk_points: longest accepted chunk.
    """

    blend_time: float = param_field(0.2, "seam from the executed command into a new chunk [s]", minimum=0.002,
                                    maximum=2.0)
    teleop_priority_time: float = param_field(1.0, "policy chunks leave teleop joints alone this long [s]",
                                              minimum=0.0, maximum=60.0)
    max_chunk_latency: float = param_field(1.0, "reject chunks whose observation is older [s]", minimum=0.01,
                                           maximum=10.0)
    max_future_stamp: float = param_field(0.05, "tolerated clock skew for chunks stamped ahead [s]", minimum=0.0,
                                          maximum=1.0)
    ensemble: bool = param_field(False, "ACT temporal ensembling of overlapping chunks")
    ensemble_decay: float = param_field(0.01, "ACT ensembling m (weight exp(-m*i), i=0 oldest)", minimum=-10.0,
                                        maximum=10.0)
    max_chunk_points: int = 1000  # not a node parameter: chunk size is also bounded by the message size check

    def __post_init__(self) -> None:
        for name in ("blend_time", "max_chunk_latency"):
            _positive(name, getattr(self, name))
        _non_negative("teleop_priority_time", self.teleop_priority_time)
        _non_negative("max_future_stamp", self.max_future_stamp)
        if not math.isfinite(self.ensemble_decay):
            raise ValueError(f"ensemble_decay must be finite, got {self.ensemble_decay}")
        if self.max_chunk_points < 1:
            raise ValueError(f"max_chunk_points must be >= 1, got {self.max_chunk_points}")


@dataclass(frozen=True)
class WatchdogConfig:
    """Timeouts that move the executor to safer modes.

    input_timeout: no chunk/teleop input for this long while RUNNING -> HOLD (s).
    hold_timeout: still no input this long after entering HOLD -> DAMPING (s).
    state_timeout: newest valid LowState older than this -> DAMPING (s).
    crc_error_limit: this many consecutive CRC-invalid LowState samples -> DAMPING.
    """

    input_timeout: float = param_field(0.5, "no chunk/teleop this long -> HOLD [s]", minimum=0.01, maximum=60.0)
    hold_timeout: float = param_field(2.0, "HOLD this long without input -> DAMPING [s]", minimum=0.01, maximum=600.0)
    state_timeout: float = param_field(0.05, "newest valid LowState older than this -> DAMPING [s]", minimum=0.002,
                                       maximum=5.0)
    crc_error_limit: int = param_field(1, "consecutive invalid LowStates -> DAMPING", minimum=1, maximum=1000)

    def __post_init__(self) -> None:
        for name in ("input_timeout", "hold_timeout", "state_timeout"):
            _positive(name, getattr(self, name))
        if self.crc_error_limit < 1:
            raise ValueError(f"crc_error_limit must be >= 1, got {self.crc_error_limit}")


@dataclass(frozen=True)
class InterlockConfig:
    """What the executor checks about the robot and the deployment (docs/unitree_interop.md, docs/supervision.md).

    lowstate_crc_policy / robot_variant / expected_mode_machine: the LowState gate (g1/lowstate_gate.py), the
        same as g1_state's: a sample it drops counts as invalid (damping while tracking; enable refused, with the
        gate's explanation, while no valid sample is fresh).
    no_effect_tolerance / no_effect_timeout: measured joints farther than the tolerance (rad) from the commands
        for the timeout (s) while RUNNING or HOLD -> DAMPING "commands have no effect" (timeout 0: off).
    clip_alarm_window / clip_alarm_fraction: an alarm (ERROR diagnostic, no mode change) while the reference
        was clipped into the position limits in at least that fraction of the window's ticks (fraction 0: off).
    remote_actions / remote_bindings: act on the G1 wireless remote's buttons (g1/remote.py bindings).
    remote_may_enable: obey the remote's `enable` and `reset_estop` (the authority policy says whether the remote
        is an authority); its `estop` and `disable` are always obeyed: making the robot safer needs no authority.
    """

    lowstate_crc_policy: str = param_field(
        "verify", "verify: drop LowState whose crc does not match (robot); accept_zero: also accept crc 0 (Unitree's "
        "own simulators); off: no check", choices=CRC_POLICIES)
    robot_variant: str = param_field("g1_29dof", "the G1 variant this deployment drives (g1/variants.py)",
                                     choices=SUPPORTED_VARIANTS)
    expected_mode_machine: int = param_field(
        ANY_MODE_MACHINE, "-1: any mode_machine of robot_variant; else the exact value (0 only for Unitree's "
        "simulators, which leave it unset)", minimum=-1, maximum=255)
    no_effect_tolerance: float = param_field(0.1, "measured joints farther than this from the commands [rad] ...",
                                             minimum=0.001, maximum=3.0)
    no_effect_timeout: float = param_field(1.0, "... for this long while running -> DAMPING 'commands have no "
                                           "effect' [s]; 0 = off", minimum=0.0, maximum=60.0)
    clip_alarm_window: float = param_field(1.0, "window of the continuous-clipping alarm [s]", minimum=0.01,
                                           maximum=60.0)
    clip_alarm_fraction: float = param_field(0.5, "ERROR diagnostic while the reference was clipped into the position "
                                             "limits in at least this fraction of the window's ticks; 0 = off",
                                             minimum=0.0, maximum=1.0)
    remote_actions: bool = param_field(True, "act on the G1 wireless remote's buttons (in LowState)")
    remote_bindings: tuple[str, ...] = param_field(
        DEFAULT_REMOTE_BINDINGS, "action=Button+Button for estop, enable, disable, reset_estop (g1/remote.py; estop "
        "is required)", type="str_array")
    remote_may_enable: bool = True  # not a node parameter: derived from the `authority` parameter

    def __post_init__(self) -> None:
        if self.lowstate_crc_policy not in CRC_POLICIES:
            raise ValueError(f"lowstate_crc_policy must be one of {list(CRC_POLICIES)}, got {self.lowstate_crc_policy!r}")
        supported_variant(self.robot_variant)
        if self.expected_mode_machine < ANY_MODE_MACHINE:
            raise ValueError(f"expected_mode_machine must be -1 (any of the variant) or a value >= 0, "
                             f"got {self.expected_mode_machine}")
        _positive("no_effect_tolerance", self.no_effect_tolerance)
        _non_negative("no_effect_timeout", self.no_effect_timeout)
        _positive("clip_alarm_window", self.clip_alarm_window)
        if not (math.isfinite(self.clip_alarm_fraction) and 0.0 <= self.clip_alarm_fraction <= 1.0):
            raise ValueError(f"clip_alarm_fraction must be in [0, 1] (0 = off), got {self.clip_alarm_fraction!r}")
        parse_bindings(self.remote_bindings)  # raises naming the bad entry


@dataclass(frozen=True)
class ExecutorConfig:
    """Everything ExecutorCore needs.

    tick_period: control period (s), 0.002 for the G1's 500 Hz.
    soft_start_time: after enable, the command starts at the measured pose and the arm_sdk weight ramps
        0 -> 1 over this time; chunks are accepted only afterwards.
    disable_damping_time: on disable/shutdown, damping commands are sent this long before stopping.
    release_weight_on_disable: ramp the arm_sdk weight to 0 while disabling (hands the arms back to the
        robot's own controller when using rt/arm_sdk).
    controllable_joints: joints chunks/teleop may command (e.g. waist + arms on rt/arm_sdk); all others hold
        the pose captured at enable.
    kp_scale / kd_scale: multiply the G1 table's default gains; damping_kd is the kd used in DAMPING/ESTOP.
    gravity_compensation: while tracking (SOFT_START, RUNNING, HOLD) send tau_ff = gravity_compensation_scale *
        g(q_measured) on `gravity_joints` (the joints the control path commands), so that the PD law holds the
        commanded pose instead of sagging; never in DAMPING/ESTOP/DISABLED (tau = 0 there). The safety filter
        keeps kp (q_des - q) + kd (dq_des - dq) + tau_ff within the torque limit. The model comes from
        ExecutorCore's `gravity` argument (default: `control.gravity.GravityModel`, MuJoCo).
    gravity_compensation_scale: 0..1.5, for a robot whose masses differ from the model's.
    """

    tick_period: float = 0.002
    soft_start_time: float = param_field(1.0, "ramp time from the measured pose / arm_sdk weight 0 -> 1 [s]",
                                         minimum=0.01, maximum=30.0)
    disable_damping_time: float = param_field(0.5, "damping before stopping on disable/shutdown [s]",
                                              minimum=0.01, maximum=10.0)
    release_weight_on_disable: bool = param_field(
        True, "ramp the arm_sdk weight to 0 while disabling (the robot's controller takes the arms back)")
    controllable_joints: tuple[str, ...] = JOINT_NAMES
    kp_scale: float = param_field(1.0, "multiplier of the G1 table's default kp", minimum=0.01, maximum=5.0)
    kd_scale: float = param_field(1.0, "multiplier of the G1 table's default kd", minimum=0.0, maximum=5.0)
    damping_kd: float = param_field(2.0, "kd of damping commands [N*m*s/rad]", minimum=0.01, maximum=20.0)
    gravity_compensation: bool = param_field(
        False, "send the gravity torque of the measured pose (MuJoCo G1 model) as feed-forward tau while tracking, "
        "so that the PD law does not sag (never while damping)")
    gravity_compensation_scale: float = param_field(1.0, "multiplier of the model's gravity torque",
                                                    minimum=0.0, maximum=1.5)
    gravity_joints: tuple[str, ...] = JOINT_NAMES
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    interlocks: InterlockConfig = field(default_factory=InterlockConfig)

    def __post_init__(self) -> None:
        for name in ("tick_period", "soft_start_time", "disable_damping_time", "kp_scale", "damping_kd"):
            _positive(name, getattr(self, name))
        _non_negative("kd_scale", self.kd_scale)
        if self.tick_period > 0.05:
            raise ValueError(f"tick_period {self.tick_period} s is too long for a joint-level executor (max 0.05)")
        if not self.controllable_joints:
            raise ValueError("controllable_joints must name at least one G1 joint")
        if len(set(self.controllable_joints)) != len(self.controllable_joints):
            raise ValueError(f"controllable_joints has duplicates: {list(self.controllable_joints)}")
        joint_indices(self.controllable_joints)  # raises on unknown names
        if not (math.isfinite(self.gravity_compensation_scale) and 0.0 <= self.gravity_compensation_scale <= 1.5):
            raise ValueError(f"gravity_compensation_scale must be in [0, 1.5], got {self.gravity_compensation_scale!r}")
        if len(set(self.gravity_joints)) != len(self.gravity_joints):
            raise ValueError(f"gravity_joints has duplicates: {list(self.gravity_joints)}")
        joint_indices(self.gravity_joints)  # raises on unknown names
        if self.scheduler.blend_time < self.tick_period:
            raise ValueError(f"blend_time {self.scheduler.blend_time} must be at least one tick_period {self.tick_period}")
        if self.watchdog.state_timeout < self.tick_period:
            raise ValueError("state_timeout must be at least one tick_period")
        if self.interlocks.no_effect_tolerance >= self.safety.max_tracking_error:
            raise ValueError(f"no_effect_tolerance {self.interlocks.no_effect_tolerance} must be below "
                             f"max_tracking_error {self.safety.max_tracking_error}: the safety filter never lets the "
                             f"command get farther than that from the measured pose")

    # Per-joint arrays, in motor order (29,).
    def kp(self) -> np.ndarray:
        return np.array([j.kp for j in G1_JOINTS]) * self.kp_scale

    def kd(self) -> np.ndarray:
        return np.array([j.kd for j in G1_JOINTS]) * self.kd_scale

    def gravity_mask(self) -> np.ndarray:
        """(29,) bool: joints that receive the gravity feed-forward torque."""
        mask = np.zeros(NUM_JOINTS, dtype=bool)
        mask[joint_indices(self.gravity_joints)] = True
        return mask

    def controllable_mask(self) -> np.ndarray:
        mask = np.zeros(NUM_JOINTS, dtype=bool)
        mask[joint_indices(self.controllable_joints)] = True
        return mask
