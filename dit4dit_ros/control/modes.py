"""The executor's vocabulary: its modes, the measured state it reads and the command it writes each tick.

Kept apart from ExecutorCore (control/executor.py) so that the real-time loop, the hands' controller and the
reports can name modes and commands without the core's machinery.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Mode(str, Enum):
    DISABLED = "DISABLED"
    SOFT_START = "SOFT_START"
    RUNNING = "RUNNING"
    HOLD = "HOLD"
    DAMPING = "DAMPING"
    ESTOP = "ESTOP"


ACTIVE_MODES = frozenset({Mode.SOFT_START, Mode.RUNNING, Mode.HOLD})


@dataclass(frozen=True)
class MeasuredState:
    """The robot state the executor needs; `stamp` is the receive time on the executor's clock."""

    q: np.ndarray  # (29,)
    dq: np.ndarray  # (29,)
    stamp: float
    crc_ok: bool = True


@dataclass(frozen=True)
class JointCommand:
    """One tick's output for all 29 motors. `send` False: send nothing this tick (DISABLED)."""

    q: np.ndarray
    dq: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau: np.ndarray
    arm_sdk_weight: float
    mode: Mode
    send: bool
    time: float

    @property
    def is_damping(self) -> bool:
        return bool(self.send and not np.any(self.kp))


@dataclass(frozen=True)
class Transition:
    time: float
    source: Mode
    target: Mode
    reason: str


__all__ = ["Mode", "ACTIVE_MODES", "MeasuredState", "JointCommand", "Transition"]
