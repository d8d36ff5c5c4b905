"""The executor's hands (control/hands.py): targets, rate/position/torque limits, damping on e-stop and stale state."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control import ExecutorConfig, ExecutorCore, Mode, WatchdogConfig
from dit4dit_ros.control.plant import LagPlant, Loop
from dit4dit_ros.control.hands import HandControlConfig, HandController
from dit4dit_ros.g1.hand_command import gripper_to_joints
from dit4dit_ros.g1.joints import JOINT_INDEX
from dit4dit_ros.g1.hands import HAND_KP, HAND_VELOCITY_LIMIT, HandSide, hand_limits

SOFT = 0.2
WD = WatchdogConfig(input_timeout=5.0, hold_timeout=5.0, state_timeout=0.02, crc_error_limit=1)


class HandPlant:
    """Both hands following the sent position with a first-order lag (fingers are light)."""

    def __init__(self) -> None:
        self.q = {side: np.zeros(7) for side in HandSide}

    def apply(self, commands: dict, dt: float, tau: float = 0.03) -> None:
        for side, cmd in commands.items():
            if np.any(cmd.kp > 0):
                self.q[side] += min(1.0, dt / tau) * (cmd.q - self.q[side])


def _running() -> tuple[Loop, HandPlant]:
    core = ExecutorCore(ExecutorConfig(soft_start_time=SOFT, watchdog=WD), hands=HandController())
    loop = Loop(core, LagPlant(tau=0.01))
    loop.step()
    assert core.enable(loop.now)
    loop.run(SOFT + 0.004)
    assert core.mode is Mode.RUNNING
    return loop, HandPlant()


def _hand_tick(loop: Loop, plant: HandPlant, seconds: float, period: float = 0.01) -> list[dict]:
    out = []
    for _ in range(int(round(seconds / period))):
        loop.run(period)
        for side in HandSide:
            loop.core.observe_hand(side, plant.q[side], loop.now)
        commands = loop.core.hand_commands(loop.now)
        plant.apply(commands, period)
        out.append(commands)
    return out


def test_gripper_target_is_reached_at_the_velocity_limit() -> None:
    loop, plant = _running()
    assert loop.core.submit_hand("right", loop.now, gripper=1.0)
    sent = [c[HandSide.RIGHT].q for c in _hand_tick(loop, plant, 1.5)]
    steps = np.abs(np.diff(np.stack(sent), axis=0))
    assert steps.max() <= HAND_VELOCITY_LIMIT * 0.01 + 1e-9  # never a jump
    np.testing.assert_allclose(sent[-1], gripper_to_joints("right", 1.0), atol=1e-6)
    np.testing.assert_allclose(plant.q[HandSide.LEFT], 0.0, atol=1e-9)  # the other hand holds
    cmd = _hand_tick(loop, plant, 0.01)[0][HandSide.RIGHT]
    assert np.all(cmd.kp == HAND_KP) and np.all(cmd.tau == 0)


def test_torque_limit_bounds_the_sent_position_around_the_measured_one() -> None:
    ctrl = HandController(HandControlConfig(velocity_limit=HAND_VELOCITY_LIMIT))
    q_meas = np.zeros(7)
    ctrl.observe("left", q_meas, 0.0)
    ctrl.observe("right", q_meas, 0.0)
    ctrl.commands(0.0, "RUNNING")  # tracking starts at the measured pose
    assert ctrl.submit_gripper("left", 1.0)
    for k in range(1, 200):  # the fingers are blocked (an object): the measured pose never changes
        ctrl.observe("left", q_meas, k * 0.01)
        ctrl.observe("right", q_meas, k * 0.01)
        cmd = ctrl.commands(k * 0.01, "RUNNING")[HandSide.LEFT]
    torque = np.abs(cmd.kp * (cmd.q - q_meas))
    assert np.all(torque <= hand_limits("left", "torque_limit") + 1e-9)
    assert ctrl.status()["left"]["torque_clamps"] > 0


def test_targets_outside_limits_or_in_the_wrong_mode_are_refused_with_reasons() -> None:
    loop, _ = _running()
    core = loop.core
    bad = gripper_to_joints("left", 0.5)
    bad[4] = -3.0
    verdict = core.submit_hand("left", loop.now, positions=bad)
    assert not verdict and "left_hand_middle_1_joint target -3.000 rad is outside [-1.745, 0.000]" in verdict.reason
    verdict = core.submit_hand("left", loop.now, gripper=1.5)
    assert not verdict and "left_gripper must be a finite value in [0, 1]" in verdict.reason
    core.estop(loop.now, "test")
    verdict = core.submit_hand("left", loop.now, gripper=0.5)
    assert not verdict and "not ESTOP" in verdict.reason
    no_hands = ExecutorCore(ExecutorConfig())
    assert "drives no hands" in no_hands.submit_hand("left", 0.0, gripper=0.5).reason


def test_estop_and_stale_hand_state_damp_the_hands_and_disabled_sends_nothing() -> None:
    loop, plant = _running()
    loop.core.submit_hand("right", loop.now, gripper=1.0)
    _hand_tick(loop, plant, 0.2)
    loop.core.estop(loop.now, "operator")
    commands = _hand_tick(loop, plant, 0.05)[-1]
    assert set(commands) == set(HandSide)
    for cmd in commands.values():
        assert np.all(cmd.kp == 0) and np.all(cmd.kd > 0) and np.all(cmd.dq == 0) and np.all(cmd.tau == 0)
    # a hand whose state stops arriving is damped even while the executor tracks
    loop2, plant2 = _running()
    loop2.core.submit_hand("left", loop2.now, gripper=0.5)
    _hand_tick(loop2, plant2, 0.1)
    loop2.run(0.2)  # no observe_hand for 0.2 s
    commands = loop2.core.hand_commands(loop2.now)
    assert np.all(commands[HandSide.LEFT].kp == 0)
    assert loop2.core.status()["hands"]["left"]["stale_damping"] >= 1
    ctrl = HandController()
    assert ctrl.commands(0.0, Mode.DISABLED) == {}


@pytest.mark.parametrize("field, value", [("period", 0.0), ("velocity_limit", 100.0), ("damping_kd", 0.0)])
def test_config_is_validated(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="HandControlConfig"):
        HandControlConfig(**{field: value})


def test_a_chunks_gripper_column_drives_the_hand_along_its_times_and_teleop_takes_over() -> None:
    """The official layout's gripper column goes with the chunk: the target follows its value at the current time
    (held after the chunk), arms and hands from one submission; a teleop gripper setpoint replaces it."""
    from dit4dit_ros.control.chunk import ActionChunk

    loop, plant = _running()
    core = loop.core
    now = loop.now
    elbow = float(core.filter.q[JOINT_INDEX["left_elbow_joint"]])
    chunk = ActionChunk(("left_elbow_joint", "left_gripper"), now, np.array([0.0, 0.5]),
                        np.array([[elbow, 0.0], [elbow, 1.0]]))
    assert core.submit_chunk(chunk, now)
    first = _hand_tick(loop, plant, 0.25)
    half = gripper_to_joints("left", float(np.interp(loop.now, now + np.array([0.0, 0.5]), [0.0, 1.0])))
    # the target moves along the column; the sent position follows it within the velocity limit
    assert 0.3 < float(np.interp(loop.now, now + np.array([0.0, 0.5]), [0.0, 1.0])) < 0.7
    assert np.linalg.norm(first[-1][HandSide.LEFT].q - half) < np.linalg.norm(gripper_to_joints("left", 1.0) - half)
    sent = [c[HandSide.LEFT].q for c in _hand_tick(loop, plant, 1.5)]
    np.testing.assert_allclose(sent[-1], gripper_to_joints("left", 1.0), atol=1e-6)  # held after the chunk's end
    assert core.submit_teleop(("left_gripper",), [0.0], loop.now)  # the hand key: open
    sent = [c[HandSide.LEFT].q for c in _hand_tick(loop, plant, 1.5)]
    np.testing.assert_allclose(sent[-1], gripper_to_joints("left", 0.0), atol=1e-6)


def test_gripper_columns_are_refused_whole_when_out_of_range_or_without_hands() -> None:
    from dit4dit_ros.control.chunk import ActionChunk
    from dit4dit_ros.control.plant import LagPlant, Loop

    loop, _ = _running()
    now = loop.now
    bad = ActionChunk(("left_gripper",), now, np.array([0.0]), np.array([[1.5]]))
    verdict = loop.core.submit_chunk(bad, now)
    assert not verdict and "left gripper values must be finite in [0, 1]" in verdict.reason
    assert not loop.core.hands.hands[HandSide.LEFT].track
    core = ExecutorCore(ExecutorConfig(soft_start_time=SOFT, watchdog=WD))
    plain = Loop(core, LagPlant(tau=0.01))
    plain.step()
    assert core.enable(plain.now)
    plain.run(SOFT + 0.004)
    verdict = core.submit_chunk(ActionChunk(("right_gripper",), plain.now, np.array([0.0]), np.array([[0.5]])),
                                plain.now)
    assert not verdict and "drives no hands" in verdict.reason
    verdict = core.submit_teleop(("right_gripper",), [0.5], plain.now)
    assert not verdict and "drives no hands" in verdict.reason
