"""Every command that reaches the robot, as the robot sees it: LowCmd_ on rt/arm_sdk and rt/lowcmd.

Tests, fuzzing and `dit4dit bench safety` judge the graph by this, not by what a node says it did: commands
are classified (tracking: some motor with kp > 0; damping: kp = 0 and kd > 0 on every commanded slot) and
checked against the G1's joint limits (positions of the slots that have stiffness).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.joints import limits_array
from dit4dit_ros.g1.lowcmd import ARM_SDK_JOINT_INDICES, ControlPath, LowCmdSample


def is_damping(sample: LowCmdSample, slots: np.ndarray = ARM_SDK_JOINT_INDICES) -> bool:
    return bool(np.all(sample.kp[slots] == 0) and np.all(sample.kd[slots] > 0))


def limit_violations(sample: LowCmdSample, tolerance: float = 1e-9) -> list[str]:
    """Why this command is unsafe (malformed, or a stiff joint's target outside its position limits)."""
    problems = sample.problems()
    stiff = np.flatnonzero(sample.kp > 0)
    lo, hi = limits_array("position_min")[stiff], limits_array("position_max")[stiff]
    q = sample.q[stiff]
    outside = stiff[(q < lo - tolerance) | (q > hi + tolerance)]
    if outside.size:
        problems.append(f"position outside the joint limits on motor slots {outside.tolist()}")
    return problems


@dataclass(frozen=True)
class WireSummary:
    commands: int
    tracking: int
    damping: int
    unsafe: int
    first_unsafe: str

    def __str__(self) -> str:
        text = f"{self.commands} commands ({self.tracking} tracking, {self.damping} damping)"
        return text + (f", {self.unsafe} UNSAFE ({self.first_unsafe})" if self.unsafe else ", none unsafe")


class RobotWire:
    """Reads every LowCmd_ on both control paths (this process's Unitree DDS domain) until closed, taking them
    from the readers' histories on its own thread (no Python listener: see g1/dds.py LowCmdPoller for why).

    Each command is classified once, on receipt (damping or tracking, unsafe or not), so that summaries stay
    cheap while a test polls them at 500 commands per second."""

    POLL_PERIOD = 0.005  # s between takes; samples wait in the readers' histories (g1/dds.py LowCmdPoller)

    def __init__(self) -> None:
        from dit4dit_ros.g1.dds import LowCmdPoller, init_unitree_dds

        init_unitree_dds()
        self._lock = threading.Lock()
        self.commands: list[LowCmdSample] = []
        self._marks: list[tuple[float, bool, str]] = []  # (receive_time, damping, first unsafe reason or "")
        self._readers = [LowCmdPoller(path) for path in (ControlPath.ARM_SDK, ControlPath.LOWCMD)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="robot-wire", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_PERIOD):
            for reader in self._readers:
                for sample in reader.take():
                    self._on_command(sample)

    def _on_command(self, sample: LowCmdSample) -> None:
        problems = limit_violations(sample)
        mark = (sample.receive_time, is_damping(sample), "; ".join(problems))
        with self._lock:
            self.commands.append(sample)
            self._marks.append(mark)

    def _marks_since(self, since: float) -> list[tuple[float, bool, str]]:
        with self._lock:
            return [m for m in self._marks if m[0] >= since]

    def snapshot(self, since: float = float("-inf")) -> list[LowCmdSample]:
        """Commands received at or after `since` (time.monotonic)."""
        with self._lock:
            return [c for c in self.commands if c.receive_time >= since]

    def count(self) -> int:
        with self._lock:
            return len(self.commands)

    def summary(self, since: float = float("-inf")) -> WireSummary:
        marks = self._marks_since(since)
        damping = sum(1 for m in marks if m[1])
        unsafe = [m[2] for m in marks if m[2]]
        return WireSummary(len(marks), len(marks) - damping, damping, len(unsafe), unsafe[0] if unsafe else "")

    def tracking_after_damping(self, since: float) -> int:
        """Tracking commands that reached the robot after the first damping command at or after `since`."""
        marks = self._marks_since(since)
        first = next((i for i, m in enumerate(marks) if m[1]), None)
        return 0 if first is None else sum(not m[1] for m in marks[first:])

    def quiet_for(self, seconds: float) -> bool:
        """No command for `seconds` (the stream has stopped)."""
        with self._lock:
            last = self._marks[-1][0] if self._marks else float("-inf")
        return time.monotonic() - last >= seconds

    def wait_damping_then_silence(self, since: float, timeout: float = 30.0, quiet: float = 1.0) -> bool:
        """Wait for the first damping command received at or after `since`, then for `quiet` s without commands;
        False if either does not happen within `timeout` s in all.

        The damping is waited for as an event, not inferred from a quiet moment: a gap in this process's
        receipts on a busy 2-core host is not the robot's silence."""
        end = time.monotonic() + timeout
        while self.summary(since).damping == 0:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        while not self.quiet_for(quiet):
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for reader in self._readers:
            reader.close()
        self._readers = []
