"""ExecutorCore: the chunk executor's 500 Hz brain, with no ROS and no DDS.

One object owns the mode state machine, the chunk scheduler and the safety filter. The node calls
`tick(now, state)` every control period with the newest LowState sample and sends the returned command;
requests (chunks, teleop targets, enable/disable/e-stop) come from other threads, so the node serialises
all calls with one lock (a tick costs ~0.1 ms, see `dit4dit bench executor`). Time is injected (`now`, one
monotonic clock in seconds for ticks, chunk stamps and state receive times), which makes every behaviour
testable in simulated time.

Policy chunks are trajectories: the scheduler places them on the clock and joins them with a quintic seam.
Teleop targets are setpoints: they replace the reference of their joints with velocity 0, and the filter's
braking-aware tracker moves there time-optimally (velocity continuous, no overshoot). Re-seaming a chunk
from the current velocity at every teleop message would overshoot a target that stops. Both go through the
same validation and the same safety filter. A joint with a teleop target younger than
`teleop_priority_time` is not taken by policy chunks.

Modes:
  DISABLED    nothing is sent.
  SOFT_START  command starts at the measured pose (captured at enable), arm_sdk weight ramps 0 -> 1;
              chunks are refused until it ends.
  RUNNING     reference from chunks and teleop targets; joints no input commands hold the captured pose.
  HOLD        no input for `input_timeout`: decelerate and hold the stopping pose.
  DAMPING     kp = 0, dq = 0, kd > 0: after `hold_timeout` in HOLD, on stale/CRC-invalid LowState, or
              (for `disable_damping_time`) on disable, after which it goes to DISABLED.
  ESTOP       like DAMPING but latched: only `reset_estop` leaves it (to DISABLED).

Hands (optional `hands=`): the Dex3-1 hands follow the same modes (control/hands.py).
Interlocks (ExecutorConfig.interlocks; docs/supervision.md): `observe_lowstate` gates each LowState (CRC policy,
variant) and acts on a trusted sample's remote buttons; enable asks `add_enable_check` checks; measured joints not
following the commands -> DAMPING; continuous position clipping -> an alarm in `status()`.

Gravity compensation (`ExecutorConfig.gravity_compensation`): in SOFT_START, RUNNING and HOLD the command
carries tau = scale * g(q_measured) on the configured joints (clipped into the torque limit; the safety filter
keeps the whole predicted torque within it). Damping commands always carry tau = 0.
"""
from __future__ import annotations

import collections
import logging
from collections.abc import Callable

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk, ChunkSource, Verdict, validate_chunk
from dit4dit_ros.control.config import ExecutorConfig
from dit4dit_ros.control.hands import HandController, split_grippers
from dit4dit_ros.control.interlocks import ClipAlarm, NoEffectWatchdog
from dit4dit_ros.control.modes import ACTIVE_MODES, JointCommand, MeasuredState, Mode, Transition
from dit4dit_ros.control.robot_input import LowStateLike, RobotInput, apply_remote_action
from dit4dit_ros.control.safety import JointLimits, SafetyFilter, clip_feedforward
from dit4dit_ros.control.scheduler import ChunkScheduler
from dit4dit_ros.g1.joints import NUM_JOINTS, joint_indices

log = logging.getLogger(__name__)

# Durations compared at tick boundaries: `now - t0` of two absolute times is 1.9999999999999 or 2.0000000000001
# depending on t0, so a soft start of exactly 1000 ticks ended on tick 1000 or 1001 depending on when the episode
# began (a graph evaluation's policy start 2.002 s idle, 2.004 s beside busy processes, same seed). A microsecond
# is far below a tick and far above the rounding. The same holds for every duration counted from a tick's time:
# soft start, input and hold timeouts, the disable ramp (`lasted`, `exceeded`). The LowState age is not one of
# them: it is measured against a sample's arrival, not counted in ticks, and stays a plain comparison.
TIME_EPSILON = 1e-6


def lasted(now: float, since: float, duration: float) -> bool:
    """`now - since >= duration` on the tick grid, whatever the rounding of the two absolute times."""
    return now - since >= duration - TIME_EPSILON


def exceeded(now: float, since: float, limit: float) -> bool:
    """`now - since > limit` on the tick grid: an age of exactly `limit` ticks' time never exceeds it."""
    return now - since > limit + TIME_EPSILON


class ExecutorCore:
    """Chunk scheduling + safety filter + watchdogs + modes. Not thread-safe: callers serialise calls."""

    def __init__(self, cfg: ExecutorConfig | None = None,
                 gravity: Callable[[np.ndarray], np.ndarray] | None = None,
                 hands: HandController | None = None) -> None:
        """`gravity`: q (29,) -> gravity torques (29,), used when cfg.gravity_compensation is set (default:
        a `GravityModel` of the simulator's MuJoCo G1, built here; ~2 s to load). `hands`: the Dex3-1 hands'
        controller, None on a robot without them."""
        self.cfg = cfg = cfg or ExecutorConfig()
        self.hands = hands
        if gravity is not None and not cfg.gravity_compensation:
            raise ValueError("a gravity model was given but ExecutorConfig.gravity_compensation is False")
        if cfg.gravity_compensation and gravity is None:
            from dit4dit_ros.g1.gravity import GravityModel

            gravity = GravityModel()
        self._gravity = gravity
        self._gravity_gain = cfg.gravity_compensation_scale * cfg.gravity_mask()
        self.limits = JointLimits.from_config(cfg.safety)
        self.filter = SafetyFilter(self.limits, cfg.tick_period, cfg.safety.send_velocity)
        self.scheduler = ChunkScheduler(cfg.scheduler)
        self._controllable = frozenset(cfg.controllable_joints)
        self._kp = cfg.kp()
        self._kd = cfg.kd()
        self._damping_kd = np.full(NUM_JOINTS, cfg.damping_kd)
        self._zeros = np.zeros(NUM_JOINTS)
        self._mode = Mode.DISABLED
        self._base = np.zeros(NUM_JOINTS)  # pose joints without input hold (captured at enable / hold)
        self._enable_time = 0.0
        self._mode_since = 0.0
        self._soft_start_done_at: float | None = None  # when the last soft start handed over to RUNNING
        self._last_input = 0.0
        self._damping_deadline: float | None = None
        self._weight = 0.0
        self._weight_at_disable = 0.0
        self._release_pending = False  # send one final weight-0 damping command when a disable completes
        self._last_tick: float | None = None
        self._last_valid: MeasuredState | None = None
        self._last_seen: MeasuredState | None = None
        self._crc_streak = 0
        self._invalid_trip = 0
        self._teleop_q = np.zeros(NUM_JOINTS)
        self._teleop_mask = np.zeros(NUM_JOINTS, dtype=bool)  # joints whose reference is a teleop target
        self._teleop_until = np.full(NUM_JOINTS, -np.inf)  # policy chunks may not take them before this
        self.transitions: collections.deque[Transition] = collections.deque(maxlen=50)
        self.counts = collections.Counter()
        self.last_rejection = ""
        ic = cfg.interlocks
        self.robot_input = RobotInput(ic)
        self.no_effect = NoEffectWatchdog(ic.no_effect_tolerance, ic.no_effect_timeout, cfg.controllable_mask())
        self.clip_alarm = ClipAlarm(max(1, round(ic.clip_alarm_window / cfg.tick_period)), ic.clip_alarm_fraction)
        self._enable_checks: list[Callable[[float], Verdict]] = []
        self._invalid_why = "CRC or non-finite"
        self.last_remote = ""

    # ------------------------------------------------------------------ requests
    @property
    def mode(self) -> Mode:
        return self._mode

    def enable(self, now: float) -> Verdict:
        if self._mode is Mode.ESTOP:
            return Verdict(False, "e-stop is latched: call reset_estop first")
        if self._mode in ACTIVE_MODES:
            return Verdict(True, f"already enabled ({self._mode.value})")
        state = self._last_valid
        if state is None or now - state.stamp > self.cfg.watchdog.state_timeout:
            age = "none received" if state is None else f"newest valid sample {1e3 * (now - state.stamp):.1f} ms old"
            why = self.robot_input.why_dropped()
            return Verdict(False, f"cannot enable without a fresh valid LowState ({age})" + (f": {why}" if why else ""))
        for check in self._enable_checks:
            verdict = check(now)
            if not verdict:
                return Verdict(False, f"enable refused: {verdict.reason}")
        self.no_effect.reset()
        self.clip_alarm.reset()
        self._base = state.q.copy()
        self._invalid_trip = 0
        self.filter.reset(state.q)
        self._clear_inputs()
        self._enable_time = now
        self._weight = 0.0
        self._damping_deadline = None
        self._release_pending = False
        self._set_mode(Mode.SOFT_START, now, "enable requested")
        return Verdict(True, "soft start")

    def add_enable_check(self, check: Callable[[float], Verdict]) -> None:
        """`check(now)` must pass before any enable (service or remote); its reason is the refusal's."""
        self._enable_checks.append(check)

    def disable(self, now: float) -> Verdict:
        """Damping for `disable_damping_time`, then DISABLED (stop sending)."""
        if self._mode is Mode.ESTOP:
            return Verdict(False, "e-stop is latched; disable does not clear it (call reset_estop)")
        if self._mode is Mode.DISABLED:
            return Verdict(True, "already disabled")
        if self._damping_deadline is None:
            self._damping_deadline = now + self.cfg.disable_damping_time
            self._weight_at_disable = self._weight
        if self._mode is not Mode.DAMPING:
            self._set_mode(Mode.DAMPING, now, "disable requested")
        return Verdict(True, f"damping for {self.cfg.disable_damping_time} s, then disabled")

    def estop(self, now: float, reason: str = "e-stop requested") -> Verdict:
        """Latch ESTOP (damping) from any mode, immediately: the next tick is a damping command."""
        if self._mode is not Mode.ESTOP:
            self._damping_deadline = None
            self._release_pending = False
            self._set_mode(Mode.ESTOP, now, reason)
        return Verdict(True, "e-stop latched")

    def reset_estop(self, now: float) -> Verdict:
        if self._mode is not Mode.ESTOP:
            return Verdict(False, f"not in e-stop (mode {self._mode.value})")
        self._set_mode(Mode.DISABLED, now, "e-stop reset")
        return Verdict(True, "e-stop reset: disabled, enable to resume")

    def submit_chunk(self, chunk: ActionChunk, now: float) -> Verdict:
        """Validate and schedule a policy chunk. Rejections are counted with their reason.

        Gripper columns (left_gripper / right_gripper, 0 open .. 1 closed) go to the hands' controller once the
        joints' part is accepted; unusable ones (a value outside [0, 1], no hands) refuse the chunk whole."""
        chunk, grippers = split_grippers(chunk)
        if isinstance(grippers, str):
            return self._reject("policy", grippers)
        if grippers and self.hands is None:
            return self._reject("policy", "the chunk has gripper columns but this executor drives no hands")
        verdict = self._admit(chunk, "policy")
        if not verdict:
            return verdict
        if self._mode is Mode.HOLD:
            self.scheduler.clear()
        start = self._last_tick if self._last_tick is not None else now
        f = self.filter
        verdict = self.scheduler.place(chunk, now, start, f.q, f.v, f.a, exclude=self._teleop_until > now)
        if not verdict:
            return self._reject("policy", verdict.reason)
        self._teleop_mask &= ~self.scheduler.owned_mask  # joints the chunk took back from an old teleop target
        for side, values in grippers.items():
            self.hands.follow_grippers(side, chunk.stamp + chunk.times, values)
        self._accept("policy", now)
        return verdict

    def submit_teleop(self, joint_names, positions, now: float) -> Verdict:
        """Joint position targets for a subset of joints (setpoints), through the same checks and filter."""
        pos = np.asarray(positions, dtype=np.float64)
        chunk = ActionChunk(tuple(joint_names), now, np.zeros(1), pos.reshape(1, -1), ChunkSource.TELEOP)
        chunk, grippers = split_grippers(chunk)  # a gripper setpoint (teleop's hand keys) goes to the hands
        if isinstance(grippers, str):
            return self._reject("teleop", grippers)
        if grippers and self.hands is None:
            return self._reject("teleop", "the target has gripper values but this executor drives no hands")
        for side, values in grippers.items():
            verdict = self.submit_hand(side, now, gripper=float(values[0]))
            if not verdict:
                return verdict
        if grippers and not chunk.joint_names:
            self._accept("teleop", now)
            return Verdict(True)
        pos = chunk.positions
        verdict = self._admit(chunk, "teleop")
        if not verdict:
            return verdict
        if self._mode is Mode.HOLD:
            self.scheduler.clear()
        idx = joint_indices(chunk.joint_names)
        self.scheduler.release(idx)
        self._teleop_q[idx] = pos.reshape(-1)
        self._teleop_mask[idx] = True
        self._teleop_until[idx] = now + self.cfg.scheduler.teleop_priority_time
        self._accept("teleop", now)
        return Verdict(True)

    def _admit(self, chunk: ActionChunk, kind: str) -> Verdict:
        if self._mode not in (Mode.RUNNING, Mode.HOLD):
            return self._reject(kind, f"executor is not running (mode {self._mode.value})")
        verdict = validate_chunk(chunk, self._controllable, self.cfg.scheduler.max_chunk_points)
        return verdict if verdict else self._reject(kind, verdict.reason)

    def _accept(self, kind: str, now: float) -> None:
        self.counts[f"{kind}_accepted"] += 1
        self._last_input = now
        if self._mode is Mode.HOLD:
            self._set_mode(Mode.RUNNING, now, f"{kind} input resumed")

    def _clear_inputs(self) -> None:
        self.scheduler.clear()
        self._teleop_mask[:] = False
        self._teleop_until[:] = -np.inf

    # ------------------------------------------------------------------ the tick
    def observe_state(self, state: MeasuredState) -> None:
        """Take every received LowState sample (call from the reader; between ticks). A CRC-invalid sample
        is remembered even if a valid one follows before the next tick."""
        self._ingest(state)

    def observe_lowstate(self, sample: LowStateLike, now: float, stamp: float | None = None) -> tuple[str, ...]:
        """Every received LowState sample (g1.lowstate.LowStateSample): the gate decides whether its state is
        valid (a dropped one counts like a bad CRC); a valid one's remote buttons act. `stamp`: the sample's time
        on the core's clock (default its receive_time). Returns the remote actions that fired."""
        admitted = self.robot_input.admit(sample)
        if admitted.drop is not None:
            gate = self.robot_input.gate
            self._invalid_why = {"variant": gate.variant_error, "crc_mismatch": "wrong CRC",
                                 "crc_zero": "CRC 0, not computed; lowstate_crc_policy verify"}[admitted.drop.value]
        stamp = sample.receive_time if stamp is None else stamp
        self._ingest(MeasuredState(sample.q, sample.dq, stamp, admitted.drop is None))
        for action in admitted.actions:
            verdict = apply_remote_action(self, action, now)
            self.counts[f"remote_{action}"] += 1
            self.last_remote = f"{action}: {verdict.reason}" if verdict else f"{action} refused: {verdict.reason}"
        return admitted.actions

    def tick(self, now: float, state: MeasuredState | None = None) -> JointCommand:
        """Advance one control period and return the command to send (or send=False).

        `state`: the newest sample, if the caller does not feed every sample through observe_state.
        """
        if state is not None and state is not self._last_seen:
            self._ingest(state)
        self._watchdogs(now)
        self.counts["ticks"] += 1
        mode = self._mode
        if mode is Mode.DISABLED and self._release_pending:
            # the tick that ends a disable: one last damping command with arm_sdk weight exactly 0
            self._release_pending = False
            self._weight = 0.0
            cmd = self._damping_command(now)
        elif mode is Mode.DISABLED:
            self._weight = 0.0
            cmd = JointCommand(self._zeros, self._zeros, self._zeros, self._zeros, self._zeros, 0.0, mode, False, now)
        elif mode in (Mode.DAMPING, Mode.ESTOP):
            cmd = self._damping_command(now)
        else:
            cmd = self._tracking_command(now)
        self._last_tick = now
        return cmd

    def _tracking_command(self, now: float) -> JointCommand:
        q_ref = self._base.copy()
        v_ref = np.zeros(NUM_JOINTS)
        if self._mode is Mode.RUNNING:
            self.scheduler.reference(now, q_ref, v_ref)
            m = self._teleop_mask
            if m.any():
                q_ref[m] = self._teleop_q[m]
                v_ref[m] = 0.0
        if self._mode is Mode.SOFT_START:
            self._weight = min(1.0, max(0.0, (now - self._enable_time) / self.cfg.soft_start_time))
        else:
            self._weight = 1.0
        s = self._last_valid
        tau = self._feedforward(s.q)
        q, dq = self.filter.step(q_ref, v_ref, s.q, s.dq, self._kp, self._kd, tau)
        if self.clip_alarm.update(self.filter.last_clipped):
            log.error("executor alarm: %s", self.clip_alarm.reason())
        return JointCommand(q, dq, self._kp, self._kd, self._zeros if tau is None else tau, self._weight, self._mode,
                            True, now)

    def _feedforward(self, q_meas: np.ndarray) -> np.ndarray | None:
        """Gravity feed-forward torque at the measured pose, inside the torque limit (None: no feed-forward)."""
        if self._gravity is None:
            return None
        tau = np.asarray(self._gravity(q_meas), dtype=np.float64)
        if tau.shape != (NUM_JOINTS,) or not np.all(np.isfinite(tau)):
            raise ValueError(f"the gravity model returned {tau!r}; expected {NUM_JOINTS} finite torques")
        return clip_feedforward(self.limits, self._gravity_gain * tau)

    def damping_command(self, now: float) -> JointCommand:
        """The damping command of this instant, without advancing the tick (to send an e-stop at once)."""
        return self._damping_command(now)

    def _damping_command(self, now: float) -> JointCommand:
        if self._damping_deadline is not None and self.cfg.release_weight_on_disable:
            # requests and ticks come from different threads: `now` may be a hair before the disable time
            left = min(1.0, max(0.0, self._damping_deadline - now) / self.cfg.disable_damping_time)
            self._weight = self._weight_at_disable * left
        q = self._last_valid.q if self._last_valid is not None else self.filter.q
        return JointCommand(q.copy(), self._zeros, self._zeros, self._damping_kd, self._zeros, self._weight, self._mode, True, now)

    # ------------------------------------------------------------------ state and watchdogs
    def _ingest(self, state: MeasuredState) -> None:
        self._last_seen = state
        ok = state.crc_ok and state.q.shape == (NUM_JOINTS,) and state.dq.shape == (NUM_JOINTS,)
        ok = ok and bool(np.all(np.isfinite(state.q)) and np.all(np.isfinite(state.dq)))
        if ok:
            self._crc_streak = 0
            self._last_valid = state
        else:
            if state.crc_ok:
                self._invalid_why = "non-finite or wrongly shaped"
            self._crc_streak += 1
            self.counts["invalid_states"] += 1
            if self._crc_streak >= self.cfg.watchdog.crc_error_limit:
                self._invalid_trip = self._crc_streak  # latched until the next watchdog check

    def _watchdogs(self, now: float) -> None:
        mode, wd = self._mode, self.cfg.watchdog
        trip, self._invalid_trip = self._invalid_trip, 0
        if mode in ACTIVE_MODES:
            age = now - self._last_valid.stamp
            if trip:
                self._set_mode(Mode.DAMPING, now, f"LowState invalid ({self._invalid_why}) {trip} time(s) in a row")
            elif age > wd.state_timeout:
                self._set_mode(Mode.DAMPING, now, f"LowState stale: newest valid sample {1e3 * age:.1f} ms old > {1e3 * wd.state_timeout:.0f} ms")
            elif mode is not Mode.SOFT_START and (why := self.no_effect.update(now, self.filter.q, self._last_valid.q)):
                self._set_mode(Mode.DAMPING, now, why)
            elif mode is Mode.SOFT_START and lasted(now, self._enable_time, self.cfg.soft_start_time):
                self._last_input = now
                self._set_mode(Mode.RUNNING, now, "soft start complete")
            elif mode is Mode.RUNNING and exceeded(now, self._last_input, wd.input_timeout):
                self._enter_hold(now)
            elif mode is Mode.HOLD and exceeded(now, self._mode_since, wd.hold_timeout):
                self._set_mode(Mode.DAMPING, now, f"no chunk or teleop input for {now - self._last_input:.2f} s")
        elif mode is Mode.DAMPING and self._damping_deadline is not None and lasted(now, self._damping_deadline, 0.0):
            self._damping_deadline = None
            self._release_pending = True
            self._set_mode(Mode.DISABLED, now, "disable complete")

    def _enter_hold(self, now: float) -> None:
        """Hold the pose where the command can stop with the acceleration limit (no overshoot and back)."""
        f, lim = self.filter, self.limits
        stop = f.v * np.abs(f.v) / (2 * lim.acceleration)
        self._base = np.clip(f.q + stop, lim.position_min, lim.position_max)
        self._clear_inputs()
        self._set_mode(Mode.HOLD, now, f"no chunk or teleop input for {now - self._last_input:.2f} s")

    def _set_mode(self, target: Mode, now: float, reason: str) -> None:
        source = self._mode
        if target is source:
            return
        self.transitions.append(Transition(now, source, target, reason))
        level = logging.WARNING if target in (Mode.DAMPING, Mode.ESTOP, Mode.HOLD) else logging.INFO
        log.log(level, "executor %s -> %s: %s", source.value, target.value, reason)
        self._mode = target
        self._mode_since = now
        if source is Mode.SOFT_START:
            self._soft_start_done_at = now if target is Mode.RUNNING else None
        if target is not Mode.RUNNING:
            self.counts[f"entered_{target.value.lower()}"] += 1

    def record_rejection(self, kind: str, reason: str) -> Verdict:
        """Count an input the caller rejected before it reached the core (e.g. a malformed message)."""
        return self._reject(kind, reason)

    @property
    def mode_since(self) -> float:
        """Time (executor clock) of the last mode change."""
        return self._mode_since

    def _reject(self, kind: str, reason: str) -> Verdict:
        self.counts[f"{kind}_rejected"] += 1
        self.last_rejection = f"{kind}: {reason}"
        return Verdict(False, reason)

    # ------------------------------------------------------------------ hands (control/hands.py)
    def submit_hand(self, side: str, now: float, gripper: float | None = None,
                    positions: np.ndarray | None = None) -> Verdict:
        """A hand target: a gripper value (0 open .. 1 closed) or 7 joint positions; accepted in RUNNING and HOLD."""
        if self.hands is None:
            return self._reject("hand", "this executor drives no hands (ExecutorCore(hands=...) not set)")
        verdict = self.hands.submit(side, self._mode.value, gripper, positions)
        return verdict if verdict else self._reject("hand", verdict.reason)

    def observe_hand(self, side: str, q: np.ndarray, now: float) -> None:
        if self.hands is not None:
            self.hands.observe(side, q, now)

    def hand_commands(self, now: float) -> dict:
        """HandSide -> HandCommand to send now for the current mode (empty: send nothing)."""
        return {} if self.hands is None else self.hands.commands(now, self._mode)

    # ------------------------------------------------------------------ diagnostics
    def status(self) -> dict:
        """A JSON-serialisable snapshot for /dit4dit/executor/state and /diagnostics."""
        last = self.transitions[-1] if self.transitions else None
        return {
            "mode": self._mode.value,
            "mode_reason": last.reason if last else "",
            # the policy's time starts here (an evaluator's episode clock; the same in every run of a lock-step sim)
            "soft_start_done_at": self._soft_start_done_at,
            "arm_sdk_weight": round(self._weight, 4),
            "gravity_compensation": self._gravity is not None,
            "last_rejection": self.last_rejection,
            "last_chunk_latency_s": None if np.isnan(self.scheduler.last_latency) else round(self.scheduler.last_latency, 4),
            "scheduled_joints": int(self.scheduler.owned_mask.sum()),
            "counts": dict(self.counts),
            "limit_hits": self.filter.counters.as_dict(),
            **({"hands": self.hands.status()} if self.hands is not None else {}),
            "alarm": self.clip_alarm.reason(),
            "clip_fraction": round(self.clip_alarm.clipped_fraction, 3),
            "last_remote": self.last_remote,
            "lowstate": self.robot_input.status(),
        }


__all__ = ["ExecutorCore", "Mode", "MeasuredState", "JointCommand", "Transition", "ACTIVE_MODES"]
