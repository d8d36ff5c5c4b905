"""HandController: the Dex3-1 hands' part of the executor (ROS-free), under the same modes and limits as the arms.

ExecutorCore owns one (optional `hands=`); the caller feeds each hand's measured state (`observe`), targets
arrive as a gripper value (0 open .. 1 closed, mapped by the synergy of g1/hand_command.py) or as 7 joint
positions (wire order), and `commands(now, mode)` returns what to send on rt/dex3/<side>/cmd:

- DISABLED: nothing. DAMPING and ESTOP: kp 0, kd `damping_kd`, dq 0 for every hand motor (an e-stop stops the
  fingers too; the latch is the executor's).
- SOFT_START, RUNNING, HOLD: position tracking with the hand's default gains. A hand without a target holds the
  pose measured when tracking began. The sent position moves towards the target at most `velocity_limit` rad/s
  (so a jump in the target never reaches the motors as a jump), stays inside the joint limits, and is clamped to
  within torque_limit / kp of the measured position, so the PD torque never exceeds the motor's limit.
- A hand whose state is older than `state_timeout` (or never seen) gets damping instead of tracking: tracking
  needs to know where the fingers are.
- A policy chunk's gripper columns (the official G1 layout's left_gripper / right_gripper) become a trajectory
  (`follow_grippers`, handed over by ExecutorCore.submit_chunk): in RUNNING and HOLD the target is the synergy
  pose of its value at the current time, held after the chunk's last point.

Targets are setpoints (a teleop key, a policy's gripper value), not trajectories; a target outside the joint
limits or non-finite is refused with the verdict saying which joint and what range, never clipped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk, Verdict
from dit4dit_ros.g1.hand_command import HandCommand, gripper_to_joints
from dit4dit_ros.g1.hands import (ALL_GRIPPER_NAMES, HAND_JOINT_NAMES, HAND_KD, HAND_KP, HAND_MOTORS, HAND_VELOCITY_LIMIT,
                                  SIDE_OF_NAME, HandSide, hand_limits, hand_side)

TRACKING_MODES = frozenset({"SOFT_START", "RUNNING", "HOLD"})
DAMPING_MODES = frozenset({"DAMPING", "ESTOP"})


@dataclass(frozen=True)
class HandControlConfig:
    period: float = 0.01  # s between hand commands (the Dex3-1 runs at 100 Hz)
    kp: float = HAND_KP
    kd: float = HAND_KD
    damping_kd: float = HAND_KD
    velocity_limit: float = HAND_VELOCITY_LIMIT  # rad/s of the sent position
    state_timeout: float = 0.1  # s: older hand state -> damping

    def __post_init__(self) -> None:
        for name in ("period", "kp", "velocity_limit", "state_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"HandControlConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.kd < 0 or self.damping_kd <= 0:
            raise ValueError(f"HandControlConfig: kd >= 0 and damping_kd > 0 required, got {self.kd}, {self.damping_kd}")
        if self.velocity_limit > HAND_VELOCITY_LIMIT:
            raise ValueError(f"HandControlConfig.velocity_limit {self.velocity_limit} exceeds the Dex3-1 joints' "
                             f"{HAND_VELOCITY_LIMIT} rad/s")


@dataclass
class _HandState:
    lo: np.ndarray
    hi: np.ndarray
    torque: np.ndarray
    target: np.ndarray | None = None
    sent: np.ndarray | None = None  # last sent position (None: tracking not begun)
    q: np.ndarray | None = None
    state_time: float = -np.inf
    last_time: float | None = None
    track: tuple[np.ndarray, np.ndarray] | None = None  # a policy chunk's gripper values: (times, values)
    counts: dict = field(default_factory=lambda: {"targets": 0, "rejected": 0, "torque_clamps": 0, "stale_damping": 0})


class HandController:
    """Both hands (see the module docstring). Not thread-safe: the executor's lock serialises calls."""

    def __init__(self, config: HandControlConfig | None = None) -> None:
        self.cfg = config or HandControlConfig()
        self.hands = {side: _HandState(hand_limits(side, "position_min"), hand_limits(side, "position_max"),
                                       hand_limits(side, "torque_limit")) for side in HandSide}
        self.last_rejection = ""

    def observe(self, side: "HandSide | str", q: np.ndarray, now: float) -> None:
        """The measured positions (wire order) of a hand at time `now`."""
        hand = self.hands[hand_side(side)]
        q = np.asarray(q, dtype=np.float64)
        if q.shape == (HAND_MOTORS,) and np.all(np.isfinite(q)):
            hand.q, hand.state_time = q.copy(), float(now)

    def submit(self, side: "HandSide | str", mode: str, gripper: float | None = None,
               positions: np.ndarray | None = None) -> Verdict:
        """A target while the executor is in `mode`: accepted in RUNNING and HOLD only, either kind, not both."""
        if mode not in ("RUNNING", "HOLD"):
            return self._reject(side, f"hand targets are accepted in RUNNING or HOLD, not {mode}")
        if (gripper is None) == (positions is None):
            return self._reject(side, "give either a gripper value or 7 joint positions")
        return self.submit_gripper(side, gripper) if gripper is not None else self.submit_joints(side, positions)

    def submit_gripper(self, side: "HandSide | str", value: float) -> Verdict:
        """Target the synergy pose of gripper `value` (0 open .. 1 closed)."""
        try:
            q = gripper_to_joints(side, value)
        except ValueError as exc:
            return self._reject(side, str(exc))
        return self.submit_joints(side, q)

    def submit_joints(self, side: "HandSide | str", q: np.ndarray) -> Verdict:
        """Target 7 joint positions (wire order); refused if not finite or outside the joint limits."""
        side = hand_side(side)
        hand = self.hands[side]
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (HAND_MOTORS,):
            return self._reject(side, f"{side.value} hand target needs {HAND_MOTORS} positions, got shape {q.shape}")
        if not np.all(np.isfinite(q)):
            return self._reject(side, f"{side.value} hand target has non-finite positions")
        bad = np.flatnonzero((q < hand.lo - 1e-9) | (q > hand.hi + 1e-9))
        if bad.size:
            i = int(bad[0])
            return self._reject(side, f"{HAND_JOINT_NAMES[side][i]} target {q[i]:.3f} rad is outside "
                                      f"[{hand.lo[i]:.3f}, {hand.hi[i]:.3f}]")
        hand.target, hand.track = q.copy(), None  # a setpoint (teleop) replaces the last chunk's gripper column
        hand.counts["targets"] += 1
        return Verdict(True)

    def follow_grippers(self, side: "HandSide | str", times: np.ndarray, values: np.ndarray) -> Verdict:
        """A policy chunk's gripper column: `values` (0 open .. 1 closed) at absolute `times` on the executor's
        clock. From then on, in RUNNING and HOLD, `commands` targets the synergy pose of the value at the current
        time (linear between points, the last one held after the chunk), until the next chunk replaces it."""
        side = hand_side(side)
        times, values = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
        if times.ndim != 1 or times.shape != values.shape or times.size == 0:
            return self._reject(side, f"{side.value} gripper column needs one value per chunk point, got "
                                      f"{values.shape} for {times.shape} times")
        problem = gripper_values_problem(side, values)
        if problem:
            return self._reject(side, problem)
        self.hands[side].track = (times.copy(), values.copy())
        return Verdict(True)

    def _reject(self, side: "HandSide | str", reason: str) -> Verdict:
        self.hands[hand_side(side)].counts["rejected"] += 1
        self.last_rejection = reason
        return Verdict(False, reason)

    def stop_tracking(self) -> None:
        """Forget targets and the tracking state (the executor left its active modes)."""
        for hand in self.hands.values():
            hand.target = hand.sent = hand.track = None
            hand.last_time = None

    def commands(self, now: float, mode: str) -> dict[HandSide, HandCommand]:
        """What to send to each hand now for the executor mode `mode` (a Mode value); empty when DISABLED."""
        mode = getattr(mode, "value", mode)
        out: dict[HandSide, HandCommand] = {}
        if mode not in TRACKING_MODES and mode not in DAMPING_MODES:
            self.stop_tracking()
            return out
        zeros = np.zeros(HAND_MOTORS)
        for side, hand in self.hands.items():
            fresh = hand.q is not None and now - hand.state_time <= self.cfg.state_timeout
            if mode in DAMPING_MODES or not fresh:
                if mode in TRACKING_MODES:
                    hand.counts["stale_damping"] += 1
                hand.sent, hand.last_time = None, None
                q = hand.q if hand.q is not None else zeros
                out[side] = HandCommand(q=q.copy(), dq=zeros, tau=zeros, kp=zeros,
                                        kd=np.full(HAND_MOTORS, self.cfg.damping_kd))
                continue
            if hand.track is not None and mode in ("RUNNING", "HOLD"):
                hand.target = gripper_to_joints(side, float(np.interp(now, *hand.track)))
            out[side] = HandCommand.position(self._track(hand, now), kp=self.cfg.kp, kd=self.cfg.kd)
        return out

    def _track(self, hand: _HandState, now: float) -> np.ndarray:
        if hand.sent is None:  # tracking begins at the measured pose
            hand.sent = np.clip(hand.q, hand.lo, hand.hi)
            hand.last_time = now
        target = hand.sent if hand.target is None else hand.target
        dt = max(0.0, now - hand.last_time) if hand.last_time is not None else 0.0
        step = self.cfg.velocity_limit * dt
        q = hand.sent + np.clip(target - hand.sent, -step, step)
        q = np.clip(q, hand.lo, hand.hi)
        reach = hand.torque / self.cfg.kp  # the PD torque kp * (q - q_meas) stays within the torque limit
        clamped = np.clip(q, hand.q - reach, hand.q + reach)
        if np.any(clamped != q):
            hand.counts["torque_clamps"] += 1
        hand.sent, hand.last_time = clamped, now
        return clamped.copy()

    def status(self) -> dict:
        return {side.value: {"has_target": hand.target is not None, **hand.counts} for side, hand in self.hands.items()}


def split_grippers(chunk: ActionChunk) -> tuple[ActionChunk, "dict[HandSide, np.ndarray] | str"]:
    """(the chunk without its gripper columns, {side: gripper values}), or the reason the grippers are unusable
    (a value outside [0, 1] or not finite). A chunk without gripper columns, or of a shape the executor's own
    validation will name, comes back unchanged with {}."""
    columns = [k for k, name in enumerate(chunk.joint_names) if name in ALL_GRIPPER_NAMES]
    positions = np.asarray(chunk.positions, dtype=np.float64)
    if not columns or positions.ndim != 2 or positions.shape[1] != len(chunk.joint_names):
        return chunk, {}
    grippers = {SIDE_OF_NAME[chunk.joint_names[k]]: positions[:, k] for k in columns}
    for side, values in grippers.items():
        problem = gripper_values_problem(side, values)
        if problem:
            return chunk, problem
    keep = [k for k in range(len(chunk.joint_names)) if k not in columns]
    body = ActionChunk(tuple(chunk.joint_names[k] for k in keep), chunk.stamp, chunk.times, positions[:, keep],
                       chunk.source)
    return body, grippers


def gripper_values_problem(side: HandSide, values: np.ndarray) -> str:
    """Why these gripper values cannot be targets ('' when they can: finite, in [0, 1])."""
    if np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0:
        return ""
    return (f"{side.value} gripper values must be finite in [0, 1] (0 open, 1 closed); got {np.nanmin(values):.3f} "
            f".. {np.nanmax(values):.3f}")
