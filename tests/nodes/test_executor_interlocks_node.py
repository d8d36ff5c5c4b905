"""The executor node's interlocks over real DDS on loopback, against a scripted LowState source (FakeLowStateRobot,
a robot that ignores commands) and a LowCmd reader in this process:
- enable refused while nothing reads the command topic, the reason naming it; with a reader, commands that move
  nothing -> DAMPING "commands have no effect" (issue 17.1(b));
- the wireless remote's buttons carried in LowState: enable, e-stop, reset (17.2);
- authority: a peer without the token is refused, with it accepted; e-stop open to everyone (19.3);
- the clock offset measured by clock_server + clock_offset (an injected offset on the "robot host") refuses
  enable; split-host mode without a measurement refuses too (17.3)."""
from __future__ import annotations

import os
import stat

import pytest
from diagnostic_msgs.srv import AddDiagnostics
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from dit4dit_ros.control import Mode
from dit4dit_ros.g1.joints import JOINT_INDEX
from dit4dit_ros.g1.remote import encode_remote
from dit4dit_ros.nodes.clock_offset_node import ClockOffsetNode
from dit4dit_ros.nodes.clock_server_node import ClockServerNode
from dit4dit_ros.nodes.executor_node import ExecutorNode
from dit4dit_ros.nodes.qos import COMMANDS
from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros]


@pytest.fixture
def rig():
    robot = FakeLowStateRobot(rate_hz=500.0, max_seconds=90.0)
    robot.resume()
    harness = RosHarness()
    readers = []
    try:
        yield harness, robot, readers
    finally:
        harness.shutdown()
        for reader in readers:
            reader.close()
        robot.close()


def _reader(readers: list, topic: str = "rt/arm_sdk"):
    from dit4dit_ros.g1.dds import LowCmdReader

    readers.append(LowCmdReader(topic, lambda sample: None))
    return readers[-1]


def _executor(harness: RosHarness, **params) -> ExecutorNode:
    # realtime and the default state_timeout (50 ms), as on the robot: the scripted robot has its own SCHED_FIFO process
    base = {"soft_start_time": 0.1, "input_timeout": 5.0, "hold_timeout": 5.0, "disable_damping_time": 0.1,
            "state_rate": 20.0, "realtime": True, "gravity_compensation": False}
    base.update(params)
    node = harness.make_node(ExecutorNode, parameter_overrides=[Parameter(k, value=v) for k, v in base.items()])
    wait_until(lambda: node.state_dict()["lowstate_rate_hz"] > 100, 20.0, what="LowState at the executor")
    return node


def _drop(harness: RosHarness, node) -> None:
    harness.executor.remove_node(node)
    harness.nodes.remove(node)
    node.destroy_node()


def _call(harness: RosHarness, srv_type, name: str, request):
    client = harness.probe.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=10.0), name
    future = client.call_async(request)
    wait_until(future.done, 10.0, what=f"a reply from {name}")
    return future.result()


def test_enable_needs_a_reader_and_commands_without_effect_damp(rig):
    harness, robot, readers = rig
    node = _executor(harness, no_effect_tolerance=0.1, no_effect_timeout=0.5)
    reply = node._srv_enable(Trigger.Request(), Trigger.Response())
    assert not reply.success and "no reader on rt/arm_sdk" in reply.message, reply.message
    assert node.mode is Mode.DISABLED and node.status().get("commands_sent", 0) == 0
    _reader(readers)
    wait_until(lambda: node._srv_enable(Trigger.Request(), Trigger.Response()).success, 10.0, poll=0.1,
               what="enable once a reader matched")
    wait_until(lambda: node.mode is Mode.RUNNING, 5.0, what="RUNNING")
    teleop = harness.probe.create_publisher(JointState, "/dit4dit/teleop/joint_command", COMMANDS)
    wait_until(lambda: teleop.get_subscription_count() > 0, 10.0, what="the teleop subscription")
    target = robot.joint_position(JOINT_INDEX["left_elbow_joint"]) + 0.25  # this robot never moves

    def damped() -> bool:
        teleop.publish(JointState(name=["left_elbow_joint"], position=[target]))
        return node.mode is Mode.DAMPING

    wait_until(damped, 10.0, poll=0.05, what="DAMPING: commands have no effect")
    assert node.status()["mode_reason"].startswith("commands have no effect")
    assert node.status()["counts"]["teleop_accepted"] > 0


def test_the_wireless_remote_enables_stops_and_resets(rig):
    harness, robot, readers = rig
    _reader(readers)
    node = _executor(harness, authority="remote")
    reply = node._srv_enable(Trigger.Request(), Trigger.Response())
    assert not reply.success and "press R2+A on the robot's wireless remote" in reply.message, reply.message
    robot.remote = encode_remote(["R2", "A"])
    wait_until(lambda: node.mode in (Mode.SOFT_START, Mode.RUNNING), 10.0, what="enabled from the remote")
    robot.remote = encode_remote(["B"])
    wait_until(lambda: node.mode is Mode.ESTOP, 5.0, what="e-stop from the remote")
    assert node.status()["mode_reason"] == "e-stop on the wireless remote"
    robot.remote = encode_remote()
    assert not node._srv_reset_estop(Trigger.Request(), Trigger.Response()).success  # no authority over ROS
    robot.remote = encode_remote(["R2", "Y"])
    wait_until(lambda: node.mode is Mode.DISABLED, 5.0, what="e-stop reset from the remote")
    counts = node.status()["counts"]
    assert counts["remote_enable"] == 1 and counts["remote_estop"] == 1 and counts["remote_reset_estop"] == 1


def test_authority_token_refuses_a_peer_without_it_and_accepts_the_operator(rig, tmp_path):
    harness, robot, readers = rig
    _reader(readers)
    token_file = tmp_path / "run" / "executor.token"
    _executor(harness, authority="token_or_remote", authority_token_file=str(token_file))
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    reply = _call(harness, Trigger, "/executor/enable", Trigger.Request())
    assert not reply.success and "enable needs authority (policy token_or_remote)" in reply.message
    assert str(token_file) in reply.message
    reply = _call(harness, AddDiagnostics, "/executor/enable_with_token", AddDiagnostics.Request(load_namespace="guess"))
    assert not reply.success and "wrong token" in reply.message
    reply = _call(harness, AddDiagnostics, "/executor/enable_with_token", AddDiagnostics.Request(load_namespace=token))
    assert reply.success, reply.message
    assert _call(harness, Trigger, "/executor/estop", Trigger.Request()).success  # e-stop: open to everyone
    reply = _call(harness, Trigger, "/executor/reset_estop", Trigger.Request())
    assert not reply.success and "reset_estop needs authority" in reply.message
    reply = _call(harness, AddDiagnostics, "/executor/reset_estop_with_token",
                  AddDiagnostics.Request(load_namespace=token))
    assert reply.success, reply.message
    assert _call(harness, Trigger, "/executor/disable", Trigger.Request()).success  # so is disable


def test_clock_offset_refuses_enable_and_split_host_requires_a_measurement(rig):
    harness, robot, readers = rig
    _reader(readers)
    for name, offset in (("off", 0.25), ("ok", 0.0)):
        harness.make_node(ClockServerNode, parameter_overrides=[
            Parameter("service_name", value=f"/{name}/clock/time"), Parameter("test_clock_offset_s", value=offset)])
        harness.make_node(ClockOffsetNode, parameter_overrides=[
            Parameter("service_name", value=f"/{name}/clock/time"), Parameter("offset_topic", value=f"/{name}/offset"),
            Parameter("period_s", value=0.2), Parameter("round_trips", value=4)])
    node = _executor(harness, clock_offset_check="when_present", clock_offset_topic="/off/offset/status")
    wait_until(lambda: node.interlocks.clock.report is not None, 20.0, what="the clock offset report")
    reply = node._srv_enable(Trigger.Request(), Trigger.Response())
    assert not reply.success and "clock offset between the policy host and the robot is +2" in reply.message
    assert abs(node.interlocks.clock.report.offset - 0.25) < 0.02
    _drop(harness, node)
    node = _executor(harness, clock_offset_check="required", clock_offset_topic="/nobody/offset/status")
    reply = node._srv_enable(Trigger.Request(), Trigger.Response())
    assert not reply.success and "split-host mode requires a clock-offset measurement" in reply.message
    _drop(harness, node)
    node = _executor(harness, clock_offset_check="required", clock_offset_topic="/ok/offset/status")
    wait_until(lambda: node._srv_enable(Trigger.Request(), Trigger.Response()).success, 20.0, poll=0.2,
               what="enable with a synchronised clock")
