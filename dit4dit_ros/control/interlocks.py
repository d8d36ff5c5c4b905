"""The executor's interlocks that watch the robot and the deployment, not the inputs (ROS-free).

Why each exists (issues 17 and 19):
- `NoEffectWatchdog`: a command stream nobody applies looks like a healthy executor (Unitree's simulators
  have no rt/arm_sdk reader: RUNNING, 1613 commands sent, 0 received). If the measured joints do not follow the
  commands within `tolerance` for `timeout` seconds, the commands have no effect: the executor damps.
- `ClipAlarm`: a checkpoint whose action range reaches past the joint limits keeps joints pinned at the
  position limit (52,460 limit hits, RUNNING, no alarm). The filter keeps the robot safe; the alarm tells the
  operator that the policy is asking for what the robot must not do.
- `ClockOffsetCheck`: in a split-host graph the policy host's clock must agree with the robot's within the
  executor's chunk-age tolerance, or fresh observations look stale (no chunks) or stale ones look fresh.
  The measurement comes from the `clock_offset` node; this decides whether enable may proceed.
Each is fed by ExecutorCore (the first two, every tick) or by the node (the clock check) and holds no thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dit4dit_ros.control.chunk import Verdict
from dit4dit_ros.g1.joints import JOINT_NAMES

CLOCK_CHECK_MODES: tuple[str, ...] = ("off", "when_present", "required")


class NoEffectWatchdog:
    """Trips when the measured joints stay farther than `tolerance` from the commands for `timeout` seconds without
    moving towards them.

    Compared: the position sent at the previous tick with the newest measured position, on `mask` (the joints
    the executor commands). A robot that tracks lags the command by far less than the tolerance (PD tracking
    error of a few 0.01 rad); one that ignores the commands stays where it was while the command moves away,
    until the safety filter's tracking window stops it at `max_tracking_error`. A robot that follows slowly (a
    simulator starved of CPU runs slower than the wall clock) still moves towards the command: if the worst joint
    of the window moved at least half the tolerance towards it, the window starts again instead of tripping.
    `timeout` <= 0 disables it.
    """

    def __init__(self, tolerance: float, timeout: float, mask: np.ndarray) -> None:
        if not (math.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"no_effect_tolerance must be a positive finite number, got {tolerance!r}")
        if not math.isfinite(timeout):
            raise ValueError(f"no_effect_timeout must be finite, got {timeout!r}")
        self.tolerance, self.timeout = float(tolerance), float(timeout)
        self._idx = np.flatnonzero(mask)
        self._since: float | None = None
        self._start_q = np.zeros(len(self._idx))  # measured pose when the window started
        self._start_sign = np.zeros(len(self._idx))  # direction to the command of the joints beyond tolerance then
        self.worst_error = 0.0
        self.worst_joint = ""

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    def reset(self) -> None:
        self._since = None

    def _restart(self, now: float, meas: np.ndarray, diff: np.ndarray) -> None:
        self._since = now
        self._start_q[:] = meas
        self._start_sign[:] = np.where(np.abs(diff) > self.tolerance, np.sign(diff), 0.0)

    def update(self, now: float, q_commanded: np.ndarray, q_measured: np.ndarray) -> str | None:
        """The damping reason once the commands have had no effect for `timeout`, else None."""
        if not self.enabled:
            return None
        meas = q_measured[self._idx]
        diff = q_commanded[self._idx] - meas
        err = np.abs(diff)
        k = int(np.argmax(err))
        if err[k] <= self.tolerance:
            self._since = None
            return None
        self.worst_error, self.worst_joint = float(err[k]), JOINT_NAMES[self._idx[k]]
        if self._since is None:
            self._restart(now, meas, diff)
            return None
        if now - self._since < self.timeout:
            return None
        if np.any((meas - self._start_q) * self._start_sign >= 0.5 * self.tolerance):
            self._restart(now, meas, diff)  # slow, but following
            return None
        return (f"commands have no effect: measured joints have not followed the commands for "
                f"{now - self._since:.2f} s (worst {self.worst_joint} {self.worst_error:.3f} rad off, tolerance "
                f"{self.tolerance} rad): is anyone reading the command topic, is the robot's controller in the mode "
                f"that applies it?")


class ClipAlarm:
    """Raised while the filter clipped the reference into the position limits in at least `fraction` of the ticks
    of the last `window_ticks` ticks; cleared when the fraction drops below it again. `fraction` <= 0: off."""

    def __init__(self, window_ticks: int, fraction: float) -> None:
        if window_ticks < 1:
            raise ValueError(f"the clip alarm window must cover at least one tick, got {window_ticks}")
        if not (math.isfinite(fraction) and fraction <= 1.0):
            raise ValueError(f"clip_alarm_fraction must be at most 1 (0 = off), got {fraction!r}")
        self.fraction = float(fraction)
        self._ring = np.zeros(window_ticks, dtype=bool)
        self._i = self._filled = self._sum = 0
        self._joint_hits = np.zeros(len(JOINT_NAMES), dtype=np.int64)
        self.active = False
        self.raised = 0  # times the alarm went up

    def reset(self) -> None:
        self._ring[:] = False
        self._i = self._filled = self._sum = 0
        self._joint_hits[:] = 0
        self.active = False

    def update(self, clipped: np.ndarray) -> bool:
        """One tracking tick; `clipped`: (29,) bool, joints whose reference was clipped. Returns True when the
        alarm goes up on this tick."""
        if self.fraction <= 0:
            return False
        hit = bool(clipped.any())
        self._sum += int(hit) - int(self._ring[self._i])
        self._ring[self._i] = hit
        self._i = (self._i + 1) % len(self._ring)
        self._filled = min(self._filled + 1, len(self._ring))
        if hit:
            self._joint_hits += clipped
        was = self.active
        self.active = self._filled == len(self._ring) and self._sum >= self.fraction * len(self._ring)
        if self._sum == 0:
            self._joint_hits[:] = 0  # a clean window: the next alarm names only the joints it is about
        self.raised += int(self.active and not was)
        return self.active and not was

    @property
    def clipped_fraction(self) -> float:
        return self._sum / len(self._ring) if self._filled else 0.0

    def reason(self) -> str:
        """What the operator reads while the alarm is up ('' while it is not)."""
        if not self.active:
            return ""
        joints = [JOINT_NAMES[i] for i in np.argsort(-self._joint_hits) if self._joint_hits[i] > 0][:7]
        return (f"safety filter clipping continuously: the reference was clipped into the position limits in "
                f"{100 * self.clipped_fraction:.0f} % of the last {len(self._ring)} ticks (alarm at "
                f"{100 * self.fraction:.0f} %), joints {joints}: the policy asks for poses beyond the joint limits "
                f"(check the checkpoint's action normalisation)")


def command_reader_check(matched_readers: Callable[[], int], topic: str) -> Callable[[float], Verdict]:
    """An enable check (ExecutorCore.add_enable_check): refuse while the command topic has no matched DDS reader.

    `matched_readers`: e.g. g1.dds.LowCmdWriter.matched_readers (publication-matched status of the writer)."""
    def check(now: float) -> Verdict:
        if matched_readers() > 0:
            return Verdict(True)
        return Verdict(False, f"no reader on {topic}: nothing would receive the commands (Unitree's simulators have "
                              f"no rt/arm_sdk reader: use control_path lowcmd there; on the robot, is this computer on "
                              f"the robot network and the Unitree domain right?)")
    return check


@dataclass
class ClockOffsetReport:
    """One clock_offset status: robot clock - policy clock (s), its uncertainty bound, and whether it is an error."""

    offset: float | None
    uncertainty: float | None
    error: str  # '' when the measurement is usable; else why not (no server, no measurement yet)
    received_at: float  # executor clock


class ClockOffsetCheck:
    """May the executor enable given the measured clock offset between the policy host and the robot?

    mode `off`: never refuses. `when_present`: refuses when a report says |offset| + uncertainty > tolerance.
    `required` (split host): also refuses when no usable report is younger than `max_age`.
    """

    def __init__(self, mode: str, tolerance: float, max_age: float, topic: str = "") -> None:
        if mode not in CLOCK_CHECK_MODES:
            raise ValueError(f"clock_offset_check must be one of {list(CLOCK_CHECK_MODES)}, got {mode!r}")
        if not (math.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"the clock-offset tolerance must be a positive finite number, got {tolerance!r}")
        if not (math.isfinite(max_age) and max_age > 0):
            raise ValueError(f"clock_offset_max_age must be a positive finite number, got {max_age!r}")
        self.mode, self.tolerance, self.max_age, self.topic = mode, float(tolerance), float(max_age), topic
        self.report: ClockOffsetReport | None = None

    def update(self, report: ClockOffsetReport) -> None:
        self.report = report

    def verdict(self, now: float) -> Verdict:
        if self.mode == "off":
            return Verdict(True)
        r = self.report
        where = f" on {self.topic}" if self.topic else ""
        if r is None or now - r.received_at > self.max_age:
            if self.mode == "required":
                age = "none received" if r is None else f"the newest is {now - r.received_at:.1f} s old"
                return Verdict(False, f"split-host mode requires a clock-offset measurement{where} younger than "
                                      f"{self.max_age} s ({age}): start clock_offset on the policy host")
            return Verdict(True)
        if r.error or r.offset is None or r.uncertainty is None:
            if self.mode == "required":
                return Verdict(False, f"no usable clock-offset measurement{where}: {r.error or 'no offset reported'}")
            return Verdict(True)
        worst = abs(r.offset) + r.uncertainty
        if worst > self.tolerance:
            return Verdict(False, f"clock offset between the policy host and the robot is {1e3 * r.offset:+.1f} ms "
                                  f"(+-{1e3 * r.uncertainty:.1f} ms), beyond the chunk-age tolerance "
                                  f"{1e3 * self.tolerance:.0f} ms: synchronise the hosts (chrony/PTP)")
        return Verdict(True)


__all__ = ["NoEffectWatchdog", "ClipAlarm", "ClockOffsetCheck", "ClockOffsetReport", "CLOCK_CHECK_MODES",
           "command_reader_check"]
