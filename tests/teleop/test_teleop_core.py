"""Teleop core without ROS: IK jogging (step, limits, workspace), keys, the TTY reader, replay, sim expert."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dit4dit_ros.data.bag_reader import BagContentError
from dit4dit_ros.data.bag_writer import EpisodeBagWriter
from dit4dit_ros.data.topics import COMMAND_TOPIC, JOINT_STATE_TYPE, StreamRole, StreamSpec, recording_typestore
from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, WAIST, limits_array, joint_indices
from dit4dit_ros.sim.robot import hold_pose_array
from dit4dit_ros.teleop.jog import ArmJogger, JogConfig
from dit4dit_ros.teleop.keys import Action, KeyboardTeleop, decode_keys, keyboard_target
from dit4dit_ros.teleop.replay import ReplayConfig, ReplaySource
from dit4dit_ros.teleop.target import TeleopTarget
from dit4dit_ros.teleop.terminal import NotATerminalError, TerminalKeyReader


@pytest.fixture(scope="module")
def jogger():
    j = ArmJogger()
    j.sync(JOINT_NAMES, hold_pose_array())
    return j


def _fresh(jogger, **cfg) -> ArmJogger:
    j = ArmJogger(JogConfig(**cfg), model=jogger.model)
    j.sync(JOINT_NAMES, hold_pose_array())
    return j


@pytest.mark.parametrize("hand", ["right", "left"])
def test_jog_moves_the_palm_by_the_step(jogger, hand):
    j = ArmJogger(model=jogger.model, hand=hand)
    j.sync(JOINT_NAMES, hold_pose_array())
    for delta in ((0.01, 0, 0), (0, -0.01, 0), (0, 0, -0.01), (-0.01, 0.01, 0.01)):
        before = j.palm_for(ARMS, j.target().positions, hand)
        result = j.jog(delta)
        assert result.accepted, result.reason
        after = j.palm_for(ARMS, j.target().positions, hand)
        np.testing.assert_allclose(after - before, delta, atol=1.5e-3)


def test_jog_outputs_stay_in_limits_and_workspace(jogger):
    cfg = JogConfig(step=0.03, max_step=0.03)
    j = ArmJogger(cfg, model=jogger.model)
    j.sync(JOINT_NAMES, hold_pose_array())
    rng = np.random.default_rng(0)
    idx = joint_indices(ARMS)
    lo = limits_array("position_min")[idx] + cfg.position_margin
    hi = limits_array("position_max")[idx] - cfg.position_margin
    ws_lo, ws_hi = np.array(cfg.workspace_min), np.array(cfg.workspace_max)
    refused = 0
    previous = j.target().positions.copy()
    for k in range(120):
        if k % 40 == 39:
            j.switch_hand()
        result = j.jog(rng.normal(size=3) * 0.2)  # far larger than max_step: clipped
        q = j.target().positions
        assert np.all(q >= lo - 1e-12) and np.all(q <= hi + 1e-12)
        assert np.all(result.palm_target >= ws_lo - 1e-12) and np.all(result.palm_target <= ws_hi + 1e-12)
        palm = j.palm_for(ARMS, q, result.hand)
        assert np.all(palm >= ws_lo - cfg.ik_tolerance) and np.all(palm <= ws_hi + cfg.ik_tolerance)
        assert np.max(np.abs(q - previous)) <= cfg.max_joint_step + 1e-9
        if not result.accepted:
            refused += 1
            np.testing.assert_array_equal(q, previous)  # a refused jog changes nothing
        previous = q.copy()
    assert refused < 120


def test_unreachable_target_is_refused_with_a_reason(jogger):
    j = _fresh(jogger, workspace_max=(1.4, 0.5, 1.4), step=0.02, max_step=0.02, max_joint_step=1.0)
    results = [j.jog((0.02, 0.0, 0.0)) for _ in range(40)]
    refused = [r for r in results if not r.accepted]
    assert refused and "unreachable" in refused[0].reason
    assert j.palm_target()[0] < 0.8  # the arm is ~0.6 m long: the target stopped where the arm ends


def test_sync_clips_measured_joints_into_the_limits(jogger):
    j = _fresh(jogger)
    q = hold_pose_array()
    q[joint_indices(["right_elbow_joint"])[0]] = 5.0  # beyond the limit (2.0944)
    j.sync(JOINT_NAMES, q)
    assert j.target().as_dict()["right_elbow_joint"] == pytest.approx(2.0944 - j.config.position_margin)


def test_bad_jog_config_and_input_are_named():
    with pytest.raises(ValueError, match="workspace_min"):
        JogConfig(workspace_min=(0.5, 0, 0), workspace_max=(0.1, 1, 1))
    with pytest.raises(ValueError, match="step"):
        JogConfig(step=0.2, max_step=0.05)


def test_key_mapping(jogger):
    j = _fresh(jogger)
    kb = KeyboardTeleop(j)
    start = j.palm_target("right")
    assert kb.handle("w").jog.accepted
    assert kb.handle("q").jog.accepted
    np.testing.assert_allclose(j.palm_target("right") - start, (0.01, 0, 0.01), atol=1e-12)
    assert kb.handle("h").action is Action.SWITCH_HAND and j.hand == "left"
    left = j.palm_target("left")
    kb.handle("d")
    np.testing.assert_allclose(j.palm_target("left") - left, (0, -0.01, 0), atol=1e-12)
    kb.handle("+")
    assert kb.step == pytest.approx(0.02)
    assert kb.handle(" ").action is Action.ESTOP
    assert kb.handle("z").action is None
    assert kb.handle("\x03").action is Action.QUIT
    assert "no measured" in kb.handle("r").message
    assert keyboard_target(kb).joint_names == ARMS  # no hand key yet: no gripper setpoint
    assert kb.handle("c").action is Action.GRIP and kb.grippers == {"left": 1.0}  # the jogged hand
    target = keyboard_target(kb)
    assert target.joint_names == ARMS + ("left_gripper",) and target.positions[-1] == 1.0
    kb.handle("o")
    assert keyboard_target(kb).as_dict()["left_gripper"] == 0.0
    with pytest.raises(ValueError, match="gripper values must be in"):
        TeleopTarget(("left_gripper",), [1.5])


def test_decode_keys():
    assert decode_keys(b"w\x1b[Aq\x1b[15~x\x1b[D") == ["w", "up", "q", "x", "left"]
    assert decode_keys(b" \x03") == [" ", "\x03"]


def test_terminal_reader_reads_keys_from_a_pty_and_restores_the_terminal():
    import termios

    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        assert before[3] & termios.ICANON
        with TerminalKeyReader(slave) as reader:
            mode = termios.tcgetattr(slave)
            assert not mode[3] & (termios.ICANON | termios.ECHO) and mode[3] & termios.ISIG
            assert reader.read_keys(0.0) == []
            os.write(master, b"wq\x1b[B ")
            keys = []
            for _ in range(20):
                keys += reader.read_keys(0.2)
                if len(keys) >= 4:
                    break
            assert keys == ["w", "q", "down", " "]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_reader_refuses_a_pipe():
    r, w = os.pipe()
    try:
        with pytest.raises(NotATerminalError, match="not a TTY"):
            TerminalKeyReader(r).__enter__()
    finally:
        os.close(r)
        os.close(w)


# ---- replay -------------------------------------------------------------------------------------------
def write_command_bag(path, n=20, period_ns=33_333_333, t0_ns=5_000_000_000):
    """A bag with `n` JointState commands of all 29 joints, sample k = 0.01*k + joint index/100."""
    writer = EpisodeBagWriter(path, [StreamSpec(COMMAND_TOPIC, JOINT_STATE_TYPE, StreamRole.COMMAND)])
    writer.open()
    store = recording_typestore()
    JointState, Header, Time = (store.types[t] for t in (JOINT_STATE_TYPE, "std_msgs/msg/Header",
                                                          "builtin_interfaces/msg/Time"))
    values = []
    for k in range(n):
        t = t0_ns + k * period_ns
        row = 0.01 * k + np.arange(len(JOINT_NAMES)) / 100.0
        sec, nsec = divmod(t, 1_000_000_000)
        msg = JointState(header=Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=""), name=list(JOINT_NAMES),
                         position=row, velocity=np.zeros(0), effort=np.zeros(0))
        values.append(row)
        writer.write(COMMAND_TOPIC, t + 1_000_000, bytes(store.serialize_cdr(msg, JOINT_STATE_TYPE)))
    writer.close()
    return np.array(values)


def test_replay_reproduces_targets_in_order_with_their_timing(tmp_path):
    bag = tmp_path / "episode"
    values = write_command_bag(bag)
    src = ReplaySource(bag)
    assert src.joint_names == WAIST + ARMS  # legs are not replayed on the arm_sdk path
    cols = joint_indices(src.joint_names)
    np.testing.assert_allclose(src.offsets, np.arange(20) * 0.033333333, atol=1e-9)
    assert src.target_at(-0.001) is None
    for k in range(20):  # between samples the newest recorded one holds
        np.testing.assert_allclose(src.target_at(k * 0.0333333 + 0.01).positions, values[k, cols])
    seen = []
    for t in np.arange(0.0, 1.0, 0.05):  # a 20 Hz consumer sees every sample once, in order
        seen += [i for i, _ in src.due(t)]
    assert seen == list(range(20)) and src.finished(1.0)
    fast = ReplaySource(bag, ReplayConfig(speed=2.0, joint_names=("right_elbow_joint",)))
    assert fast.duration == pytest.approx(src.duration / 2)
    assert fast.target(3).as_dict() == {"right_elbow_joint": pytest.approx(values[3, 25])}


def test_replay_names_a_missing_topic(tmp_path):
    bag = tmp_path / "episode"
    write_command_bag(bag, n=2)
    with pytest.raises(BagContentError, match="/nope"):
        ReplaySource(bag, ReplayConfig(topic="/nope"))


# ---- sim expert ---------------------------------------------------------------------------------------
def test_expert_source_reaches_the_cube_of_the_simulators_seed(jogger):
    from dit4dit_ros.sim.robot import SimRobot
    from dit4dit_ros.teleop.expert import ExpertSource, TaskUpdate

    sim = SimRobot()
    sim.reset(7)
    cube = sim.world.cube_pos()
    src = ExpertSource(gravity_offset=False)  # IK positions: the palm of the targets is the plan
    assert src.target_at(0.0) is None
    assert src.update(TaskUpdate.from_values({"task": "reach", "seed": "7", "episode_time": "0.5", "success": "false"}), 100.0)
    assert not src.update(TaskUpdate("reach", 7, 0.6), 100.1)  # same episode: no re-plan
    start = src.target_at(99.5)  # episode time 0: the hold pose
    np.testing.assert_allclose(start.positions, hold_pose_array()[joint_indices(ARMS)], atol=1e-9)
    end = src.target_at(99.5 + src.expert.duration)
    palm = jogger.to_world(jogger.palm_for(ARMS, end.positions, "right"))
    np.testing.assert_allclose(palm, cube + (0, 0, src.expert.config.touch_height), atol=5e-3)
    assert src.finished(99.5 + src.expert.duration)
    with pytest.raises(ValueError, match="episode_time"):
        TaskUpdate.from_values({"task": "reach"})
