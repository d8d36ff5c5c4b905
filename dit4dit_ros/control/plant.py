"""The executor's plant model for benches and tests, a closed loop without a robot: a lagging joint "plant" and a driver that ticks in
simulated time. Used by `dit4dit bench executor` and the control tests (the MuJoCo sim is the real
integration test; this is the fast, deterministic one).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dit4dit_ros.control.executor import ExecutorCore, JointCommand, MeasuredState
from dit4dit_ros.g1.joints import NUM_JOINTS


@dataclass
class LagPlant:
    """Joints that follow the commanded position with a first-order lag (time constant `tau`, s)."""

    q: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))
    tau: float = 0.01
    dq: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))

    def step(self, cmd: JointCommand, dt: float) -> None:
        if not cmd.send:
            self.dq = np.zeros(NUM_JOINTS)
            return
        alpha = min(1.0, dt / self.tau)
        tracking = cmd.kp > 0
        new_q = np.where(tracking, self.q + alpha * (cmd.q - self.q), self.q + 0.5 * self.dq * dt)
        self.dq = (new_q - self.q) / dt
        self.q = new_q

    def state(self, stamp: float, crc_ok: bool = True) -> MeasuredState:
        return MeasuredState(self.q.copy(), self.dq.copy(), stamp, crc_ok)


@dataclass
class Loop:
    """Ticks `core` against `plant` at the core's period in simulated time starting at `now`."""

    core: ExecutorCore
    plant: LagPlant
    now: float = 1000.0

    @property
    def dt(self) -> float:
        return self.core.cfg.tick_period

    def step(self, state_ok: bool = True, crc_ok: bool = True) -> JointCommand:
        self.now += self.dt
        state = self.plant.state(self.now, crc_ok) if state_ok else None
        cmd = self.core.tick(self.now, state)
        self.plant.step(cmd, self.dt)
        return cmd

    def run(self, seconds: float) -> list[JointCommand]:
        return [self.step() for _ in range(int(round(seconds / self.dt)))]
