"""The teleop node over real rclpy: replay at its rate, keyboard keys through a pty -> jog and e-stop."""
from __future__ import annotations

import os

import numpy as np
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, WAIST, joint_indices
from dit4dit_ros.nodes.qos import COMMANDS, STATE
from dit4dit_ros.data.topics import TELEOP_TOPIC
from dit4dit_ros.nodes.teleop_node import TeleopNode
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.sim.robot import hold_pose_array
from dit4dit_ros.teleop.jog import ArmJogger
from dit4dit_ros.utils.waiting import wait_until
from test_teleop_core import write_command_bag


def _params(**values) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


def test_replay_node_publishes_recorded_targets_at_its_rate(tmp_path):
    bag = tmp_path / "episode"
    values = write_command_bag(bag, n=30)  # 1 s at 30 Hz
    cols = joint_indices(WAIST + ARMS)
    with RosHarness() as h:
        got = h.collect(JointState, TELEOP_TOPIC, COMMANDS)
        node = h.make_node(TeleopNode, parameter_overrides=_params(source="replay", bag=str(bag), rate=30.0))
        wait_until(lambda: node.done, 15.0, what="the replay to finish")
        wait_until(lambda: len(got) >= node.published, 5.0, what="every published target")
        msgs = got.snapshot()
    assert 20 <= len(msgs) <= 45
    assert all(tuple(m.name) == WAIST + ARMS for _, m in msgs)
    recorded_index = [int(np.argmin(np.abs(values[:, cols] - np.asarray(m.position)).sum(axis=1))) for _, m in msgs]
    assert all(np.allclose(values[i, cols], m.position) for i, (_, m) in zip(recorded_index, msgs))
    assert recorded_index == sorted(recorded_index) and recorded_index[-1] == 29  # in order, to the end
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in msgs])
    assert np.all(np.diff(stamps) > 0)
    rate = 1.0 / np.median(np.diff(stamps))  # the replay's pacing, from its stamps (starvation adds only outliers)
    assert 27.0 < rate < 33.0, rate


def test_keyboard_node_jogs_from_pty_keys_and_publishes_the_estop():
    master, slave = os.openpty()
    try:
        with RosHarness() as h:
            got = h.collect(JointState, TELEOP_TOPIC, COMMANDS)
            estops = h.collect(Bool, "/dit4dit/estop", COMMANDS)
            states = h.probe.create_publisher(JointState, "/joint_states", STATE)
            node = h.make_node(TeleopNode, key_fd=slave, parameter_overrides=_params(source="keyboard", rate=50.0))
            h.wait_for_publisher(TELEOP_TOPIC)
            measured = JointState(name=list(JOINT_NAMES), position=hold_pose_array().tolist())

            def synced() -> bool:
                states.publish(measured)
                return len(got) > 0

            wait_until(synced, 15.0, what="targets after the first /joint_states")
            # The node's jogger runs IK on its own MjData in the executor thread; measuring with it from this
            # thread would race with the node. A separate instance gives the same kinematics.
            jogger = ArmJogger()
            first = np.asarray(got.snapshot()[-1][1].position)
            np.testing.assert_allclose(first, hold_pose_array()[joint_indices(ARMS)], atol=1e-9)
            start = jogger.palm_for(ARMS, first, "right")
            os.write(master, b"ww")

            def moved():
                q = np.asarray(got.snapshot()[-1][1].position)
                return np.linalg.norm(jogger.palm_for(ARMS, q, "right") - start) > 0.015

            wait_until(moved, 10.0, what="the jog to be published")
            q = np.asarray(got.snapshot()[-1][1].position)
            np.testing.assert_allclose(jogger.palm_for(ARMS, q, "right") - start, (0.02, 0, 0), atol=2e-3)
            os.write(master, b" ")
            wait_until(lambda: len(estops) > 0, 10.0, what="the e-stop message")
            assert estops.snapshot()[0][1].data is True
            os.write(master, b"c")  # close the jogged (right) hand: a gripper setpoint joins the arm targets
            wait_until(lambda: "right_gripper" in got.snapshot()[-1][1].name, 10.0, what="the hand key's setpoint")
            msg = got.snapshot()[-1][1]
            assert list(msg.name) == list(ARMS) + ["right_gripper"] and msg.position[-1] == 1.0
            np.testing.assert_allclose(msg.position[:-1], q, atol=1e-9)  # the arms stay where they were jogged
            os.write(master, b"\x04")  # Ctrl-D (Ctrl-C is a SIGINT from a controlling terminal)
            wait_until(lambda: node.done, 10.0, what="Ctrl-D to end the node")
    finally:
        os.close(master)
        os.close(slave)
