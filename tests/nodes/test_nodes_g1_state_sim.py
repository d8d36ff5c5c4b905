"""g1_state as a child process (`python -m`, config/g1_sim.yaml) against the MuJoCo robot process.

`dit4dit sim-robot --no-ros` plays the G1 on this run's Unitree DDS domain (environment from conftest).
The test process only speaks ROS: it sees /joint_states at the configured rate with the G1 joint names,
then stops the robot process and expects the stale diagnostic and the node's log line.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState

from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow


def _stop(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5.0)
    return proc.returncode


def _dit4dit() -> list[str]:
    return [sys.executable, "-m", "dit4dit_ros.cli"]


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for proc in reversed(started):
        _stop(proc, signal.SIGKILL if proc.poll() is None else signal.SIGINT, timeout=5.0)


def test_joint_states_from_the_sim_robot_then_silence(repo_root, tmp_path, processes):
    if not Path(repo_root, "dit4dit_ros", "bringup", "node_commands.py").exists():
        pytest.fail("`dit4dit sim-robot` (dit4dit_ros/bringup/node_commands.py) is missing")
    sim_log = open(tmp_path / "sim.log", "w")
    node_log_path = tmp_path / "g1_state.log"
    node_log = open(node_log_path, "w")
    sim = subprocess.Popen(_dit4dit() + ["sim-robot", "--no-ros", "--duration", "60"],
                           stdout=sim_log, stderr=subprocess.STDOUT, cwd=repo_root)
    processes.append(sim)
    node = subprocess.Popen(
        [sys.executable, "-m", "dit4dit_ros.nodes.g1_state_node", "--ros-args",
         "--params-file", str(Path(repo_root, "config", "g1_sim.yaml")),
         "-p", "g1_state:use_sim_time:=false",  # --no-ros: the robot publishes no /clock here
         "-p", "g1_state:publish_rate:=100.0", "-p", "g1_state:stale_timeout_s:=0.3",
         "-p", "g1_state:diagnostics_period_s:=0.25"],
        stdout=node_log, stderr=subprocess.STDOUT, cwd=repo_root, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    processes.append(node)
    with RosHarness() as harness:
        joints = harness.collect(JointState, "/joint_states", STATE)
        diagnostics = harness.collect(DiagnosticArray, "/diagnostics")
        wait_until(lambda: len(joints) >= 50 or node.poll() is not None or sim.poll() is not None, 60.0,
                   what="50 joint_states from the sim robot")
        assert node.poll() is None, node_log_path.read_text()
        joints.clear()
        start = time.monotonic()
        wait_until(lambda: time.monotonic() - start >= 2.0, 3.0, what="2 s of joint_states")
        received = joints.snapshot()
        rate = len(received) / (time.monotonic() - start)
        stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in received])
        assert 80.0 < rate < 115.0, f"/joint_states at {rate:.1f} Hz, configured 100"
        assert np.all(np.diff(stamps) > 0)
        msg = received[-1][1]
        assert list(msg.name) == list(JOINT_NAMES) and len(msg.position) == len(JOINT_NAMES)
        assert np.all(np.isfinite(msg.position)) and np.any(np.array(msg.position) != 0.0)

        assert _stop(sim, signal.SIGTERM) == 0  # the robot goes silent

        def stale():
            for _, m in reversed(diagnostics.snapshot()):
                for s in m.status:
                    if s.name.startswith("g1_state") and diag.status_level(s) == diag.STALE:
                        return s
            return None

        status = wait_until(stale, 5.0, what="STALE diagnostic after the sim robot stopped")
        assert "robot silent" in status.message
    assert _stop(node) == 0
    log = node_log_path.read_text()
    assert "robot silent: no valid rt/lowstate" in log and "stale_timeout_s=0.3" in log, log
