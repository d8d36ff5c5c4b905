"""The executor node against the project's simulator behaving like Unitree's own (`sim-robot --unitree-compat`:
LowState at 200 Hz with crc 0 and mode_machine 0, no rt/arm_sdk reader), over real DDS on loopback.

Before: the executor reported RUNNING on rt/arm_sdk and sent 1613 commands that nobody received. Now:
- arm_sdk: enable refused, the reason names the topic without a reader;
- lowcmd with the default CRC policy (verify): enable refused with the gate's explanation (crc 0);
- lowcmd with accept_zero + expected_mode_machine 0: enable works, the simulated joints follow a teleop target
  and the no-effect watchdog stays quiet; a target beyond the joint limit raises the clipping alarm (ERROR on
  /diagnostics) while the filter keeps the joint inside the limit.
"""
from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from dit4dit_ros.control import Mode
from dit4dit_ros.g1.joints import G1_JOINTS, JOINT_INDEX
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.executor_node import ExecutorNode
from dit4dit_ros.nodes.qos import COMMANDS, DIAGNOSTICS
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.sim.process import SimRobotProcess
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]

ELBOW = JOINT_INDEX["left_elbow_joint"]
BASE = {"soft_start_time": 0.3, "input_timeout": 10.0, "hold_timeout": 10.0, "disable_damping_time": 0.2,
        "state_rate": 10.0, "state_timeout": 0.25, "diagnostics_period_s": 0.2}


@pytest.fixture(scope="module")
def unitree_like_sim():
    sim = SimRobotProcess(["--no-ros", "--unitree-compat", "--duration", "150"]).start()
    harness = RosHarness()
    yield sim, harness
    harness.shutdown()
    sim.stop()


def _executor(harness: RosHarness, **params) -> ExecutorNode:
    overrides = [Parameter(k, value=v) for k, v in {**BASE, **params}.items()]
    return harness.make_node(ExecutorNode, parameter_overrides=overrides)


def _drop(harness: RosHarness, node) -> None:
    harness.executor.remove_node(node)
    harness.nodes.remove(node)
    node.destroy_node()


def _enable(node) -> Trigger.Response:
    return node._srv_enable(Trigger.Request(), Trigger.Response())


def test_arm_sdk_is_refused_for_want_of_a_reader_and_crc_zero_under_verify(unitree_like_sim):
    sim, harness = unitree_like_sim
    node = _executor(harness, control_path="arm_sdk", lowstate_crc_policy="accept_zero", expected_mode_machine=0,
                     gravity_compensation=False)
    wait_until(lambda: node.state_dict()["lowstate_rate_hz"] > 100 or not sim.alive, 60.0, what="LowState accepted")
    assert sim.alive, sim.log()
    reply = _enable(node)
    assert not reply.success and "no reader on rt/arm_sdk" in reply.message and "control_path lowcmd" in reply.message
    assert node.mode is Mode.DISABLED and node.status().get("commands_sent", 0) == 0
    _drop(harness, node)

    node = _executor(harness, control_path="lowcmd", gravity_compensation=False)  # lowstate_crc_policy verify
    wait_until(lambda: node.status().get("lowstate", {}).get("lowstate_crc_zero", 0) > 100, 30.0,
               what="crc-0 LowState dropped by the executor's gate")
    reply = _enable(node)
    assert not reply.success and "none received" in reply.message and "with crc 0" in reply.message, reply.message
    assert node.status().get("lowstate", {}).get("lowstate_accepted", 0) == 0 and node.status().get("commands_sent", 0) == 0
    _drop(harness, node)


def test_lowcmd_tracks_and_continuous_clipping_raises_the_alarm(unitree_like_sim):
    sim, harness = unitree_like_sim
    alarms = harness.collect(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
    node = _executor(harness, control_path="lowcmd", lowstate_crc_policy="accept_zero", expected_mode_machine=0)
    try:
        _track_then_clip(sim, harness, node, alarms)
    finally:  # an executor left running would command the module's simulator against the next one
        _drop(harness, node)


def _track_then_clip(sim, harness: RosHarness, node: ExecutorNode, alarms) -> None:
    wait_until(lambda: _enable(node).success or not sim.alive, 60.0, poll=0.2, what="enable on rt/lowcmd")
    wait_until(lambda: node.mode is Mode.RUNNING, 10.0, what="RUNNING")
    teleop = harness.probe.create_publisher(JointState, "/dit4dit/teleop/joint_command", COMMANDS)
    wait_until(lambda: teleop.get_subscription_count() > 0, 10.0, what="the teleop subscription")
    target = float(node.status()["measured_q"][ELBOW]) + 0.25

    def arrived(goal: float) -> bool:
        teleop.publish(JointState(name=["left_elbow_joint"], position=[goal]))
        return abs(float(node.status()["measured_q"][ELBOW]) - goal) < 0.03

    wait_until(lambda: arrived(target), 15.0, poll=0.05, what="the simulated elbow at the teleop target")
    end = time.monotonic() + 2 * node.p["no_effect_timeout"]
    wait_until(lambda: time.monotonic() > end, 10.0, what="twice the no-effect timeout")
    assert node.mode is Mode.RUNNING, node.status()["mode_reason"]
    assert node.status()["alarm"] == ""

    limit = G1_JOINTS[ELBOW].position_max
    alarms.clear()

    def alarm_on_diagnostics() -> bool:
        teleop.publish(JointState(name=["left_elbow_joint"], position=[limit + 0.5]))
        return any(status.name.startswith("executor") and diag.status_level(status) == diag.ERROR
                   and "safety filter clipping continuously" in status.message
                   for _, msg in alarms.snapshot() for status in msg.status)

    try:
        wait_until(alarm_on_diagnostics, 15.0, poll=0.05, what="the clipping alarm on /diagnostics")
    except Exception:
        raise AssertionError(f"no alarm; executor {node.status()}") from None
    assert node.mode is Mode.RUNNING and "left_elbow_joint" in node.status()["alarm"]
    assert float(node.status()["measured_q"][ELBOW]) < limit - node.p["position_margin"] + 0.02
