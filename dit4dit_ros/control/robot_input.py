"""What the executor takes from each received LowState: the gated robot state and the remote's button actions.

Why one place: the executor decides on its own which LowState it trusts (the same gate as g1_state: CRC policy
and robot variant, g1/lowstate_gate.py), and only a trusted sample's wireless-remote bytes may press buttons.
ROS-free, so that the executor's control loop can run it wherever it runs (a ROS node or its own process).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dit4dit_ros.control.chunk import Verdict
from dit4dit_ros.control.config import ExecutorConfig, InterlockConfig
from dit4dit_ros.g1.lowstate_gate import DropReason, LowStateGate
from dit4dit_ros.g1.remote import RemoteActionMapper

log = logging.getLogger(__name__)


class LowStateLike(Protocol):
    """The fields of g1.lowstate.LowStateSample the executor reads."""

    q: np.ndarray
    dq: np.ndarray
    receive_time: float
    crc_ok: bool
    crc: int
    mode_machine: int
    wireless_remote: bytes


@dataclass(frozen=True)
class Admitted:
    """One sample's verdict: `drop` None if the state may be used; `actions` the remote actions it fired."""

    drop: DropReason | None
    actions: tuple[str, ...]


class RobotInput:
    """The LowState gate plus the remote's action mapper. Not thread-safe: the executor serialises calls."""

    def __init__(self, cfg: InterlockConfig) -> None:
        self.gate = LowStateGate(cfg.lowstate_crc_policy, cfg.robot_variant, cfg.expected_mode_machine)
        self.remote = RemoteActionMapper(cfg.remote_bindings) if cfg.remote_actions else None
        self.mode_machine: int | None = None  # of the newest accepted sample (every LowCmd must echo it)
        self.last_drop: DropReason | None = None  # of the newest sample

    def admit(self, sample: LowStateLike) -> Admitted:
        drop = self.last_drop = self.gate.check(sample)
        if drop is not None:
            return Admitted(drop, ())
        self.mode_machine = int(sample.mode_machine)
        actions: tuple[str, ...] = ()
        if self.remote is not None and sample.wireless_remote:
            actions = self.remote.update(sample.wireless_remote).fired
        return Admitted(None, actions)

    def why_dropped(self) -> str:
        """The gate's explanation of what it dropped ('' when nothing)."""
        return self.gate.explain()

    def status(self) -> dict:
        out = {"lowstate_" + k: v for k, v in self.gate.counts.as_dict().items()}
        out["lowstate_crc_policy"] = self.gate.crc_policy.value
        out["robot_variant"] = self.gate.variant
        if self.remote is not None:
            out["remote_invalid_reports"] = self.remote.invalid_reports
        return out


class _Requests(Protocol):
    """The requests of ExecutorCore a remote button can make."""

    cfg: ExecutorConfig

    def estop(self, now: float, reason: str = ...) -> Verdict: ...
    def disable(self, now: float) -> Verdict: ...
    def enable(self, now: float) -> Verdict: ...
    def reset_estop(self, now: float) -> Verdict: ...


def apply_remote_action(core: _Requests, action: str, now: float) -> Verdict:
    """Do what a remote button asked: e-stop and disable always; enable and reset_estop if the remote has authority."""
    if action == "estop":
        verdict = core.estop(now, "e-stop on the wireless remote")
    elif action == "disable":
        verdict = core.disable(now)
    elif not core.cfg.interlocks.remote_may_enable:
        verdict = Verdict(False, "the authority policy does not accept the wireless remote for this")
    else:
        verdict = core.enable(now) if action == "enable" else core.reset_estop(now)
    log.log(logging.WARNING if action == "estop" or not verdict else logging.INFO, "wireless remote %s: %s", action,
            verdict.reason)
    return verdict


__all__ = ["RobotInput", "Admitted", "LowStateLike", "apply_remote_action"]
