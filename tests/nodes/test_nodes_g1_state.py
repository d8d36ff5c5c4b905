"""g1_state node over real DDS on loopback: LowState_ (unitree_sdk2py/CycloneDDS) -> /joint_states + /imu.

The test process plays the robot with the SDK on this run's Unitree domain: valid messages at 500 Hz,
messages with a corrupted CRC (must be dropped and counted), and silence (must be reported, then recovery).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from sensor_msgs.msg import Imu, JointState

from dit4dit_ros.g1.joints import JOINT_NAMES, NUM_JOINTS
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.g1_state_node import G1StateNode
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

BAD_CRC_MARKER = FakeLowStateRobot.BAD_CRC_MARKER  # joint 0 of corrupted messages: never on /joint_states


def _latest_status(collector, prefix="g1_state"):
    for _, msg in reversed(collector.snapshot()):
        for status in msg.status:
            if status.name.startswith(prefix):
                return status
    return None


@pytest.fixture(scope="module")
def setup():
    harness = RosHarness()
    robot = FakeLowStateRobot()
    joints = harness.collect(JointState, "/joint_states", STATE)
    imu = harness.collect(Imu, "/imu", STATE)
    diagnostics = harness.collect(DiagnosticArray, "/diagnostics")
    node = harness.make_node(G1StateNode, parameter_overrides=[
        Parameter("publish_rate", value=100.0),
        Parameter("stale_timeout_s", value=0.3),
        Parameter("diagnostics_period_s", value=0.2),
    ])
    wait_until(lambda: harness.probe.count_publishers("/joint_states") > 0, 10.0, what="/joint_states publisher")
    yield harness, robot, node, joints, imu, diagnostics
    robot.close()
    harness.shutdown()


def test_joint_states_at_configured_rate_with_g1_names(setup):
    harness, robot, node, joints, imu, diagnostics = setup
    robot.resume()
    wait_until(lambda: len(joints) >= 20, 10.0, what="20 joint_states")
    joints.clear()
    start = time.monotonic()
    wait_until(lambda: time.monotonic() - start > 1.5, 3.0, what="1.5 s of joint_states")
    received = joints.snapshot()
    rate = len(received) / (time.monotonic() - start)
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in received])
    stamp_rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 80.0 < rate < 115.0, f"joint_states arrived at {rate:.1f} Hz, configured 100"
    assert 85.0 < stamp_rate < 110.0, stamp_rate
    msg = received[-1][1]
    assert list(msg.name) == list(JOINT_NAMES)
    assert len(msg.position) == len(msg.velocity) == len(msg.effort) == NUM_JOINTS
    q = np.array(msg.position)
    np.testing.assert_allclose(q[1:] - q[0], 0.01 * np.arange(1, NUM_JOINTS), atol=1e-5)  # float32 on the wire
    np.testing.assert_allclose(np.array(msg.velocity), -q, atol=1e-5)
    np.testing.assert_allclose(np.array(msg.effort), 2 * q, atol=1e-5)
    wait_until(lambda: len(imu) > 0, 5.0, what="/imu")
    imu_msg = imu.snapshot()[-1][1]
    assert imu_msg.header.frame_id == "imu_in_pelvis" and imu_msg.orientation.w == 1.0
    assert imu_msg.angular_velocity.z == pytest.approx(0.3) and imu_msg.linear_acceleration.z == pytest.approx(9.81)
    status = wait_until(lambda: (s := _latest_status(diagnostics)) and diag.status_level(s) == diag.OK and s,
                        5.0, what="OK diagnostic")
    assert diag.status_values(status)["mode_machine"] == "5"


def test_bad_crc_messages_are_dropped_and_counted(setup):
    harness, robot, node, joints, imu, diagnostics = setup
    robot.pause()
    before = node.crc_dropped
    joints.clear()
    robot.send_bad(50)
    wait_until(lambda: node.crc_dropped - before >= 50, 5.0, what="50 bad-CRC messages counted")
    assert node.crc_dropped - before == 50
    assert all(abs(m.position[0] - BAD_CRC_MARKER) > 1e-3 for _, m in joints.snapshot())

    def crc_status():
        s = _latest_status(diagnostics)
        return s if s is not None and int(diag.status_values(s)["crc_dropped"]) >= before + 50 else None

    status = wait_until(crc_status, 5.0, what="diagnostic with the CRC count")
    assert diag.status_values(status)["crc_dropped"] == str(before + 50)


def test_silence_is_reported_and_recovery_too(setup):
    harness, robot, node, joints, imu, diagnostics = setup
    robot.resume()
    wait_until(lambda: _latest_status(diagnostics) is not None
               and diag.status_values(_latest_status(diagnostics))["state"] == "alive", 5.0, what="alive")
    stale_before = node.watch.stale_events
    robot.pause()
    status = wait_until(lambda: (s := _latest_status(diagnostics)) and diag.status_level(s) == diag.STALE and s,
                        5.0, what="STALE diagnostic after the robot went silent")
    assert "robot silent" in status.message
    assert node.watch.stale_events == stale_before + 1
    joints.clear()
    time.sleep(0.2)  # the absence of messages is the thing tested here: nothing may be published while silent
    assert len(joints) == 0
    robot.resume()
    wait_until(lambda: (s := _latest_status(diagnostics)) and diag.status_level(s) == diag.OK, 5.0,
               what="OK diagnostic after the robot came back")
    wait_until(lambda: len(joints) > 5, 5.0, what="joint_states after recovery")
    robot.pause()


def test_a_subscriber_that_matches_late_gets_the_newest_state_while_the_robot_is_silent(setup):
    """The lock-stepped simulator pauses LowState while the policy thinks: a policy whose subscription matched
    after the last joint state went out must still get that state (before: nothing until LowState resumed)."""
    harness, robot, node, joints, imu, diagnostics = setup
    robot.resume()
    wait_until(lambda: len(joints) > 5, 5.0, what="joint_states")
    robot.pause()
    wait_until(lambda: (s := _latest_status(diagnostics)) and diag.status_level(s) == diag.STALE, 5.0,
               what="STALE diagnostic after the robot went silent")
    newest = joints.snapshot()[-1][1]
    republished = node.republished
    late = harness.collect(JointState, "/joint_states", STATE)
    wait_until(lambda: len(late) >= 1, 10.0, what="the newest joint state at a subscriber that matched late")
    msg = late.snapshot()[0][1]
    assert msg.header.stamp == newest.header.stamp and list(msg.position) == list(newest.position)
    assert node.republished == republished + 1
