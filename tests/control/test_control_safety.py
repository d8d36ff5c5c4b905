"""The safety filter under seeded random and adversarial input: no emitted command ever exceeds a limit."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control import (
    ActionChunk,
    ExecutorConfig,
    ExecutorCore,
    Mode,
    SafetyConfig,
    WatchdogConfig,
    check_command,
    check_rates,
)
from dit4dit_ros.control.plant import LagPlant
from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX, JOINT_NAMES, WAIST, joint_indices, limits_array

DT = 0.002
HW_MIN = limits_array("position_min")
HW_MAX = limits_array("position_max")


def _random_chunk(rng: np.random.Generator, kind: str, names: tuple[str, ...], q_meas: np.ndarray, core: ExecutorCore, now: float):
    h = int(rng.integers(1, 24))
    idx = joint_indices(names)
    lim = core.limits
    base = q_meas[idx]
    if kind == "smooth":
        pos = base + np.cumsum(rng.normal(0, 0.02, size=(h, len(idx))), axis=0)
    elif kind == "jump":
        pos = base + rng.uniform(-3, 3, size=(h, len(idx)))
    elif kind == "out_of_limit":
        side = np.where(rng.random(len(idx)) < 0.5, lim.position_min[idx] - rng.uniform(0, 2, len(idx)), lim.position_max[idx] + rng.uniform(0, 2, len(idx)))
        pos = np.tile(side, (h, 1))
    elif kind == "huge":
        pos = rng.choice([-1e6, 1e6], size=(h, len(idx)))
    elif kind == "nan":
        pos = base + np.zeros((h, len(idx)))
        pos[rng.integers(h), rng.integers(len(idx))] = rng.choice([np.nan, np.inf, -np.inf])
    elif kind == "wrong_length":
        pos = np.tile(base[:-1], (h, 1))
    else:
        raise AssertionError(kind)
    period = float(rng.choice([1 / 30, 0.04, 0.1]))
    latency = float(rng.uniform(0.0, 0.3))
    return ActionChunk.uniform(names, pos, stamp=now - latency, period=period)


MUST_REJECT = {"nan", "wrong_length"}


def _run_adversarial(seed: int, controllable: tuple[str, ...], pushes: bool, seconds: float = 2.0):
    rng = np.random.default_rng(seed)
    cfg = ExecutorConfig(
        soft_start_time=0.1,
        controllable_joints=controllable,
        watchdog=WatchdogConfig(input_timeout=0.4, hold_timeout=0.4),
    )
    core = ExecutorCore(cfg)
    lim = core.limits
    plant = LagPlant(q=rng.uniform(lim.position_min, lim.position_max) * 0.5, tau=float(rng.uniform(0.005, 0.03)))
    now = 10.0
    core.tick(now, plant.state(now))
    assert core.enable(now)
    history: list[np.ndarray] = []
    push_ticks: list[int] = []
    violations: list[str] = []
    rate_violation_ticks: list[int] = []
    next_input = now + 0.12
    kinds = ["smooth", "smooth", "jump", "out_of_limit", "huge", "nan", "wrong_length", "teleop"]
    for tick in range(int(seconds / DT)):
        now += DT
        if pushes and rng.random() < 0.01:
            j = rng.integers(29)  # a push moves a joint, but not through its hardware stop
            plant.q[j] = np.clip(plant.q[j] + rng.uniform(-0.6, 0.6), HW_MIN[j], HW_MAX[j])
            push_ticks.append(tick)
        if now >= next_input:
            next_input = now + float(rng.choice([0.05, 0.15, 0.3, 0.7]))  # sometimes long gaps -> HOLD/DAMPING
            kind = str(rng.choice(kinds))
            if kind == "teleop":
                names = tuple(rng.choice(controllable, size=int(rng.integers(1, 4)), replace=False))
                targets = rng.uniform(-4, 4, size=len(names))
                core.submit_teleop(names, targets, now)
            else:
                names = tuple(rng.choice(controllable, size=int(rng.integers(1, len(controllable) + 1)), replace=False))
                verdict = core.submit_chunk(_random_chunk(rng, kind, names, plant.q, core, now), now)
                if kind in MUST_REJECT:
                    assert not verdict and verdict.reason, kind
            if core.mode is Mode.DAMPING and rng.random() < 0.5:
                core.enable(now)
        state = plant.state(now)
        cmd = core.tick(now, state)
        plant.step(cmd, DT)
        if not (cmd.send and cmd.kp.any()):
            history.clear()
            continue
        assert 0.0 <= cmd.arm_sdk_weight <= 1.0
        assert np.all(np.isfinite(cmd.q)) and np.all(np.isfinite(cmd.dq))
        for v in check_command(lim, cmd.q, cmd.dq, cmd.kp, cmd.kd, state.q, state.dq):
            violations.append(f"tick {tick}: {v}")
        history.append(cmd.q)
        if len(history) >= 3:
            if check_rates(lim, history[-3], history[-2], history[-1], DT):
                rate_violation_ticks.append(tick)
            history = history[-2:]
    return core, violations, rate_violation_ticks, push_ticks


@pytest.mark.parametrize("seed", range(8))
def test_no_command_ever_exceeds_a_limit_under_adversarial_chunks(seed):
    controllable = ARMS + WAIST if seed % 2 else JOINT_NAMES
    core, violations, rate_ticks, _ = _run_adversarial(seed, controllable, pushes=False)
    assert violations == []
    assert rate_ticks == []
    counts = core.status()["counts"]
    assert counts.get("policy_rejected", 0) > 0 and counts.get("policy_accepted", 0) > 0
    assert core.filter.counters.position > 0  # out-of-limit targets were met and clipped


@pytest.mark.parametrize("seed", range(3))
def test_pushed_robot_state_limits_always_hold(seed):
    """Measured pose jumps (the robot is pushed): torque, tracking and position limits still hold on every
    command; velocity/acceleration may give way only right after a push (state limits win)."""
    core, violations, rate_ticks, push_ticks = _run_adversarial(100 + seed, JOINT_NAMES, pushes=True)
    assert push_ticks
    assert violations == []
    pushes = np.array(push_ticks)
    for t in rate_ticks:
        assert np.any((t >= pushes) & (t - pushes <= 200)), f"rate limit broken at tick {t} with no push before it"


def _teleop_loop(cfg: ExecutorConfig, plant: LagPlant, joint: str, target: float, seconds: float):
    core = ExecutorCore(cfg)
    now = 5.0
    core.tick(now, plant.state(now))
    assert core.enable(now)
    out = []
    for _ in range(int(round(seconds / DT))):
        now += DT
        if core.mode is Mode.RUNNING:
            assert core.submit_teleop([joint], [target], now)
        state = plant.state(now)
        cmd = core.tick(now, state)
        plant.step(cmd, DT)
        out.append((cmd, state))
    return core, out


def test_a_large_step_is_reached_time_optimally_without_overshoot():
    safety = SafetyConfig(max_velocity=3.0, max_acceleration=30.0)
    cfg = ExecutorConfig(soft_start_time=0.01, safety=safety)
    j = JOINT_INDEX["left_elbow_joint"]
    plant = LagPlant(tau=0.005)
    core, out = _teleop_loop(cfg, plant, "left_elbow_joint", 1.5, 1.0)
    q = np.array([c.q[j] for c, _ in out])
    assert q.max() <= 1.5 + 1e-6  # no overshoot
    reached = int(np.argmax(q >= 1.5 - 1e-6))
    assert q[reached] >= 1.5 - 1e-6
    optimal = 1.5 / 3.0 + 3.0 / 30.0  # cruise at v_max with accel/decel ramps
    assert reached * DT <= optimal + 0.15
    v = np.diff(q) / DT
    assert np.abs(v).max() <= 3.0 + 1e-9
    assert np.abs(np.diff(v)).max() <= 30.0 * DT + 1e-9


def test_torque_limit_holds_on_a_blocked_joint():
    """A wrist that cannot move (blocked): the command stops where kp*(q_des-q) reaches the torque limit."""
    cfg = ExecutorConfig(soft_start_time=0.01)
    j = JOINT_INDEX["left_wrist_pitch_joint"]
    plant = LagPlant(tau=1e9)  # effectively does not move
    core, out = _teleop_loop(cfg, plant, "left_wrist_pitch_joint", 1.2, 0.6)
    cmd, state = out[-1]
    torque_limit = 0.8 * 5.0
    assert abs(cmd.kp[j] * (cmd.q[j] - state.q[j])) == pytest.approx(torque_limit, rel=1e-6)
    for c, s in out:
        torque = c.kp * (c.q - s.q) + c.kd * (c.dq - s.dq)
        assert np.all(np.abs(torque) <= core.limits.torque * (1 + 1e-9))


def test_position_limit_with_margin_is_where_an_out_of_range_target_ends():
    cfg = ExecutorConfig(soft_start_time=0.01, safety=SafetyConfig(position_margin=0.1, max_tracking_error=5.0))
    j = JOINT_INDEX["left_elbow_joint"]
    plant = LagPlant(tau=0.005)
    core, out = _teleop_loop(cfg, plant, "left_elbow_joint", 10.0, 1.5)
    q = np.array([c.q[j] for c, _ in out])
    assert q.max() <= 2.0944 - 0.1 + 1e-9
    assert q[-1] == pytest.approx(2.0944 - 0.1, abs=1e-9)
    assert core.filter.counters.position > 0
