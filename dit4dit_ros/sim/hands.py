"""The simulated Dex3-1 hands' motor drivers: per-hand PD law on the latest HandCmd, timeout -> damping.

Like the body's motors (sim/robot.py), each hand motor applies tau = kp (q_des - q) + kd (dq_des - dq) + tau_ff
clipped to its torque limit, every physics step. A hand starts holding its open pose with the default gains (the
Dex3-1 firmware holds position after power-on); when its commands stop for `command_timeout` s of simulation
time it goes to damping (kp 0, kd `damping_kd`), and a new valid command takes it back. Invalid commands
(non-finite values, negative gains) are ignored and counted.

Thread model: `submit()` from any thread (the latest command is kept); everything else in the stepping thread.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from dit4dit_ros.g1.hand_command import GRIPPER_OPEN, HandCommand
from dit4dit_ros.g1.hands import HAND_JOINT_NAMES, HAND_MOTORS, HandSide, hand_limits, hand_side

LOG = logging.getLogger(__name__)


@dataclass
class HandCounters:
    received: int = 0
    applied: int = 0
    invalid: int = 0
    timeouts: int = 0


@dataclass
class _Hand:
    qadr: np.ndarray
    dadr: np.ndarray
    act: np.ndarray
    command: HandCommand
    command_time: float = -np.inf
    commanded: bool = False  # a command arrived since the reset (before that: hold open, no timeout)
    damping: bool = False
    pending: HandCommand | None = None
    tau: np.ndarray = field(default_factory=lambda: np.zeros(HAND_MOTORS))
    counters: HandCounters = field(default_factory=HandCounters)


class SimHands:
    """Both hands of a MuJoCo model that has Dex3-1 joints (g1/dex3_model.py)."""

    def __init__(self, model, data, command_timeout: float, damping_kd: float) -> None:
        import mujoco

        self.model, self.data = model, data
        self.command_timeout, self.damping_kd = float(command_timeout), float(damping_kd)
        self._lock = threading.Lock()
        self._torque_limit = {s: hand_limits(s, "torque_limit") for s in HandSide}
        self.hands: dict[HandSide, _Hand] = {}
        for side in HandSide:
            names = HAND_JOINT_NAMES[side]
            ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in names]
            acts = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n.removesuffix("_joint")) for n in names]
            if min(ids) < 0 or min(acts) < 0:
                raise ValueError(f"the model has no Dex3-1 {side.value} hand (joints {list(names)}); "
                                 "build the scene with hands='dex3'")
            self.hands[side] = _Hand(qadr=model.jnt_qposadr[ids].copy(), dadr=model.jnt_dofadr[ids].copy(),
                                     act=np.array(acts), command=HandCommand.position(GRIPPER_OPEN[side]))

    @staticmethod
    def model_has_hands(model) -> bool:
        import mujoco

        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, HAND_JOINT_NAMES[HandSide.LEFT][0]) >= 0

    def reset(self) -> None:
        """Open hands at rest, holding the open pose; pending commands dropped."""
        with self._lock:
            for side, hand in self.hands.items():
                self.data.qpos[hand.qadr] = GRIPPER_OPEN[side]
                self.data.qvel[hand.dadr] = 0.0
                hand.command, hand.command_time = HandCommand.position(GRIPPER_OPEN[side]), -np.inf
                hand.commanded = hand.damping = False
                hand.pending = None
                hand.tau = np.zeros(HAND_MOTORS)

    def submit(self, side: "HandSide | str", command: HandCommand) -> bool:
        """Offer a received command (any thread); returns whether it was accepted."""
        hand = self.hands[hand_side(side)]
        with self._lock:
            hand.counters.received += 1
            problems = command.problems()
            if problems:
                hand.counters.invalid += 1
                LOG.warning("ignoring invalid %s hand command: %s", hand_side(side).value, problems)
                return False
            hand.pending = command
            return True

    def apply(self, now: float) -> None:
        """Take pending commands and write the hand motors' torques into data.ctrl (call before mj_step)."""
        with self._lock:
            pending = {side: hand.pending for side, hand in self.hands.items()}
            for hand in self.hands.values():
                hand.pending = None
        for side, hand in self.hands.items():
            if pending[side] is not None:
                if hand.damping:
                    LOG.info("%s hand commands resumed", side.value)
                hand.command, hand.command_time = pending[side], now
                hand.commanded, hand.damping = True, False
                hand.counters.applied += 1
            elif hand.commanded and not hand.damping and now - hand.command_time > self.command_timeout:
                LOG.warning("%s hand commands stopped for %.3f s: damping", side.value, now - hand.command_time)
                hand.damping = True
                hand.counters.timeouts += 1
            q, dq = self.data.qpos[hand.qadr], self.data.qvel[hand.dadr]
            if hand.damping:
                tau = -self.damping_kd * dq
            else:
                c = hand.command
                tau = c.kp * (c.q - q) + c.kd * (c.dq - dq) + c.tau
            hand.tau = np.clip(tau, -self._torque_limit[side], self._torque_limit[side])
            self.data.ctrl[hand.act] = hand.tau

    def joint_state(self, side: "HandSide | str") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q, dq, tau) of one hand's 7 motors in wire order."""
        hand = self.hands[hand_side(side)]
        return self.data.qpos[hand.qadr].copy(), self.data.qvel[hand.dadr].copy(), hand.tau.copy()

    def status(self) -> dict:
        return {side.value: {"damping": hand.damping, **hand.counters.__dict__} for side, hand in self.hands.items()}
