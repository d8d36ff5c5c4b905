"""g1_state publishes the G1 wireless remote carried in LowState as sensor_msgs/Joy, and counts garbage.

The test process plays the robot with LowState_ messages (fast codec, valid CRC) whose wireless_remote bytes
are a synthetic remote report: B pressed, left stick half forward; then bytes that are not a remote report.
"""
from __future__ import annotations

import struct
import threading

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Joy

from dit4dit_ros.g1.joints import NUM_JOINTS
from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
from dit4dit_ros.g1.remote import BUTTONS, encode_remote
from dit4dit_ros.nodes.g1_state_node import G1StateNode
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.ros


class _RemoteRobot:
    """rt/lowstate at ~200 Hz from a thread, with the remote bytes of `self.remote`."""

    def __init__(self) -> None:
        from dit4dit_ros.g1.dds import LowStateWriter, init_unitree_dds

        init_unitree_dds()
        self.writer = LowStateWriter()
        self.remote = encode_remote()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        q = np.zeros(NUM_JOINTS)
        for tick in range(12000):  # at most 60 s
            if self._stop.wait(0.005):
                return
            self.writer.write_serialized(encode_lowstate_cdr(q, q, q, np.array([1.0, 0, 0, 0]), np.zeros(3),
                                                             np.zeros(3), tick=tick, mode_machine=5,
                                                             wireless_remote=self.remote))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.writer.close()


def test_remote_buttons_and_sticks_reach_ros_and_garbage_is_counted():
    robot = _RemoteRobot()
    try:
        with RosHarness() as harness:
            joys = harness.collect(Joy, "/test_remote/joy", STATE)
            node = harness.make_node(G1StateNode, parameter_overrides=[
                Parameter("remote_topic", value="/test_remote/joy"),
                Parameter("joint_states_topic", value="/test_remote/joint_states"),
                Parameter("imu_topic", value="/test_remote/imu")])
            wait_until(lambda: len(joys) >= 5, 30.0, what="Joy messages")
            assert joys.snapshot()[-1][1].buttons.tolist() == [0] * len(BUTTONS)

            robot.remote = encode_remote({"B"}, ly=0.5)

            def pressed():
                msg = joys.snapshot()[-1][1]
                return msg if msg.buttons[BUTTONS.index("B")] == 1 else None

            msg = wait_until(pressed, 10.0, what="B pressed on /test_remote/joy")
            assert sum(msg.buttons) == 1 and list(msg.axes) == pytest.approx([0.0, 0.5, 0.0, 0.0, 0.0])

            garbage = bytearray(encode_remote())
            struct.pack_into("<f", garbage, 4, 7.0)  # lx = 7: not a remote report
            before = len(joys)
            robot.remote = bytes(garbage)
            wait_until(lambda: node.remote_invalid >= 20, 10.0, what="invalid remote reports counted")
            published_during_garbage = len(joys) - before
            assert published_during_garbage <= 3  # at most the reports already in flight
            assert node.diagnostic() and int(dict((kv.key, kv.value) for kv in node.diagnostic().values)["remote_invalid"]) >= 20
    finally:
        robot.close()
