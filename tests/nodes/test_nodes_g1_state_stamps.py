"""g1_state's `stamp_source`: the simulator's joint states carry the time of the state itself (its LowState tick),
not the moment a possibly late /clock had reached the node; on the robot they are stamped on receipt.

The test robot's tick is a simulated time starting at 5000 s (far from this host's clock) and its joint 0 encodes
the tick (q0 = 1e-4 * (tick % 1000)), so each message's stamp can be checked against its own content. Its
simulated time runs 5x faster than the wall clock (a state every 10 ms of robot time, arriving every 2 ms): with
tick stamps the node decimates on the tick, so every state of a late burst that is one period of robot time
newer is published; decimated on arrival, four in five would be dropped."""
from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Imu, JointState

from dit4dit_ros.nodes.g1_state_node import G1StateNode
from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.utils.stamps import stamp_to_seconds
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.ros
SIM_START = 5000.0  # s of simulated time at the first message
SPEED = 5.0  # s of simulated time per wall second


@pytest.mark.parametrize("source", ["lowstate_tick", "receive"])
def test_joint_state_stamps_follow_the_configured_source(source):
    robot = FakeLowStateRobot()
    robot.set_sim_clock(SIM_START, SPEED)
    try:
        with RosHarness() as harness:
            topic = f"/test_stamps_{source}"
            joints = harness.collect(JointState, f"{topic}/joint_states", STATE)
            imu = harness.collect(Imu, f"{topic}/imu", STATE)
            harness.make_node(G1StateNode, parameter_overrides=[
                Parameter("stamp_source", value=source), Parameter("remote_topic", value=""),
                Parameter("joint_states_topic", value=f"{topic}/joint_states"),
                Parameter("imu_topic", value=f"{topic}/imu")])
            robot.resume()
            wait_until(lambda: len(joints) >= 20 and len(imu) >= 5, 30.0, what="joint states and IMU")
            received = [m for _, m in joints.snapshot()]
            stamps = np.array([stamp_to_seconds(m.header.stamp) for m in received])
            if source == "lowstate_tick":
                ticks_ms = np.round(stamps * 1000.0).astype(np.int64)
                np.testing.assert_allclose(stamps, ticks_ms / 1000.0, atol=1e-9)  # whole milliseconds
                assert np.all((stamps > SIM_START) & (stamps < SIM_START + 300.0)), stamps[:3]
                # each stamp is the tick of the state it carries
                encoded = np.round(np.array([m.position[0] for m in received]) / 1e-4).astype(np.int64)
                np.testing.assert_array_equal(ticks_ms % 1000, encoded)
                # 100 Hz of robot time: a state every 10 ms of ticks (20 ms if the test robot is starved), not 50
                assert np.median(np.diff(stamps)) < 0.03, np.diff(stamps)[:10]
                imu_stamp = stamp_to_seconds(imu.snapshot()[-1][1].header.stamp)
                assert SIM_START < imu_stamp < SIM_START + 300.0
            else:
                now = time.time()  # the node's ROS clock is this host's system time here
                assert np.all(np.abs(stamps - now) < 60.0), (stamps[:3], now)
    finally:
        robot.close()
