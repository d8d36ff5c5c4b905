"""g1_state with `hands: dex3` against the MuJoCo robot with Dex3-1 hands: /joint_states carries the 14 hand joints."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from dit4dit_ros.g1.hands import ALL_HAND_JOINT_NAMES
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)


def test_joint_states_carry_the_hand_joints(repo_root, tmp_path) -> None:
    sim_log, node_log = tmp_path / "sim.log", tmp_path / "g1_state.log"
    sim = subprocess.Popen([sys.executable, "-m", "dit4dit_ros.cli", "sim-robot", "--no-ros", "--duration", "60",
                            "--task", "pick_place"], stdout=open(sim_log, "w"), stderr=subprocess.STDOUT, cwd=repo_root)
    node = subprocess.Popen(
        [sys.executable, "-m", "dit4dit_ros.nodes.g1_state_node", "--ros-args",
         "--params-file", str(Path(repo_root, "config", "g1_sim.yaml")),
         "-p", "g1_state:use_sim_time:=false", "-p", "g1_state:hands:=dex3"],
        stdout=open(node_log, "w"), stderr=subprocess.STDOUT, cwd=repo_root, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with RosHarness() as harness:
            joints = harness.collect(JointState, "/joint_states", STATE)

            def with_hands() -> bool:
                return any(len(m.name) == len(JOINT_NAMES) + len(ALL_HAND_JOINT_NAMES) for _, m in joints.snapshot())

            wait_until(lambda: with_hands() or node.poll() is not None or sim.poll() is not None, 60.0,
                       what="a /joint_states message with the hand joints")
            assert node.poll() is None and sim.poll() is None, node_log.read_text() + sim_log.read_text()
            msg = next(m for _, m in joints.snapshot() if len(m.name) > len(JOINT_NAMES))
            assert tuple(msg.name) == JOINT_NAMES + ALL_HAND_JOINT_NAMES
            hand = np.asarray(msg.position)[len(JOINT_NAMES):]
            assert len(msg.velocity) == len(msg.effort) == len(msg.name)
            np.testing.assert_allclose(hand, 0.0, atol=0.05)  # the simulated hands hold their open pose

            # The robot (LowState and hands together) stands still for 1 s > stale_timeout_s (0.5 s), as a
            # lock-stepped simulation does while the policy thinks: the hands' age is robot time, so the states
            # after the pause still carry them (judged on the wall clock they dropped out, the policy refused those
            # states and a paused pick_place evaluation waited for ever).
            os.kill(sim.pid, signal.SIGSTOP)
            try:
                time.sleep(1.0)  # the pause is the stimulus
                before = len(joints.snapshot())
            finally:
                os.kill(sim.pid, signal.SIGCONT)
            wait_until(lambda: len(joints.snapshot()) >= before + 20, 30.0, what="20 joint states after the pause")
            after = [len(m.name) for _, m in joints.snapshot()[before:]]
            assert all(n == len(JOINT_NAMES) + len(ALL_HAND_JOINT_NAMES) for n in after), after
    finally:
        _stop(node)
        _stop(sim)
