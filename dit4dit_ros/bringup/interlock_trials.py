"""`dit4dit bench safety` trials of the executor's interlocks (issues 17.1-17.2, 19.3, 19.5).

Each trial runs the real executor node (in this process, its own rclpy context) against a scripted robot on this
process's Unitree DDS domain (g1/fake_lowstate_robot.py: valid LowState at 500 Hz, a robot that never
follows commands, which is exactly what several trials need) and reads what reached the robot with RobotWire (every
LowCmd_ on rt/arm_sdk and rt/lowcmd). A few seconds each: they are quick trials.
"""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Iterator

from dit4dit_ros.bringup.trial_base import Trial, TrialContext, TrialOutcome
from dit4dit_ros.data.topics import TELEOP_TOPIC
from dit4dit_ros.utils.waiting import wait_until

# realtime and the default state_timeout (50 ms), as on the robot: the scripted robot publishes from its own
# SCHED_FIFO process and the executor's control process asks for SCHED_FIFO too, so host load cannot starve either.
_BASE = {"soft_start_time": 0.1, "input_timeout": 30.0, "hold_timeout": 30.0, "disable_damping_time": 0.1,
         "state_rate": 20.0, "realtime": True, "gravity_compensation": False, "diagnostics_period_s": 0.2}


@contextlib.contextmanager
def _rig(wire: bool = True, crc_zero: bool = False, **params) -> Iterator[tuple]:
    """(harness, robot, node, wire or None): an executor node reading a FakeLowStateRobot."""
    from rclpy.parameter import Parameter

    from dit4dit_ros.nodes.executor_node import ExecutorNode
    from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
    from dit4dit_ros.nodes.probe import RosHarness
    from dit4dit_ros.safety.wire import RobotWire

    # as in the executor's own process (executor_node.main): its threads must get the GIL within a fraction of a
    # tick, not after the default 5 ms
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    robot = FakeLowStateRobot(rate_hz=500.0, max_seconds=120.0)
    robot.crc_zero = crc_zero
    robot.resume()
    harness = RosHarness()
    reader = RobotWire() if wire else None
    try:
        node = harness.make_node(ExecutorNode, parameter_overrides=[
            Parameter(k, value=v) for k, v in {**_BASE, **params}.items()])
        wait_until(lambda: node.status().get("lowstate", {}).get("lowstate_received", 0) > 100, 30.0, what="LowState at the executor")
        yield harness, robot, node, reader
    finally:
        harness.shutdown()
        if reader is not None:
            reader.close()
        robot.close()
        sys.setswitchinterval(switch)


def _enable(node) -> tuple[bool, str]:
    from std_srvs.srv import Trigger

    reply = node._srv_enable(Trigger.Request(), Trigger.Response())
    return reply.success, reply.message


def _running(node) -> None:
    from dit4dit_ros.control import Mode

    wait_until(lambda: _enable(node)[0], 15.0, poll=0.1, what="enable")
    try:
        wait_until(lambda: node.mode is Mode.RUNNING, 5.0, what="RUNNING")
    except Exception:
        raise RuntimeError(f"not RUNNING after enable: {node.mode} ({node.status().get('mode_reason')})") from None


def _teleop(harness, joint: str = "left_elbow_joint"):
    from sensor_msgs.msg import JointState

    from dit4dit_ros.nodes.qos import COMMANDS

    pub = harness.probe.create_publisher(JointState, TELEOP_TOPIC, COMMANDS)
    wait_until(lambda: pub.get_subscription_count() > 0, 10.0, what="the teleop subscription")
    return lambda position: pub.publish(JointState(name=[joint], position=[position]))


def _damped(wire, since: float, node) -> tuple[str, bool]:
    wait_until(lambda: wire.summary(since).damping > 20, 5.0, what="damping on the wire")
    summary = wire.summary(since)
    late = wire.tracking_after_damping(since)
    return f"{summary}; {late} tracking after the first damping", summary.unsafe == 0 and late == 0


def no_reader_enable(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.safety.wire import RobotWire

    with _rig(wire=False) as (_, _, node, _):
        ok, message = _enable(node)
        sent = node.status().get("commands_sent", 0)
        wire = RobotWire()  # now someone reads the command topics: the same request succeeds
        try:
            wait_until(lambda: _enable(node)[0], 15.0, poll=0.1, what="enable once a reader matched")
        finally:
            wire.close()
        passed = not ok and "no reader on rt/arm_sdk" in message and sent == 0
        return TrialOutcome(f"{sent} commands while nothing read rt/arm_sdk", passed, f"enable: {message[:110]}")


def no_effect(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.control import Mode
    from dit4dit_ros.g1.joints import JOINT_INDEX

    with _rig(no_effect_tolerance=0.1, no_effect_timeout=0.5) as (harness, robot, node, wire):
        _running(node)
        send = _teleop(harness)
        target = robot.joint_position(JOINT_INDEX["left_elbow_joint"]) + 0.25
        t0 = time.monotonic()

        def damped() -> bool:
            send(target)
            return node.mode is Mode.DAMPING

        wait_until(damped, 10.0, poll=0.05, what="DAMPING")
        reason = node.status()["mode_reason"]
        reached, safe = _damped(wire, t0, node)
        return TrialOutcome(reached, safe and reason.startswith("commands have no effect"),
                            f"after {time.monotonic() - t0:.1f} s: {reason[:90]}")


def forged_crc(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.control import Mode

    with _rig() as (_, robot, node, wire):
        _running(node)
        t0 = time.monotonic()
        robot.send_bad(2)
        wait_until(lambda: node.mode is Mode.DAMPING, 5.0, what="DAMPING")
        reached, safe = _damped(wire, t0, node)
        reason = node.status()["mode_reason"]
        return TrialOutcome(reached, safe and "wrong CRC" in reason, reason)


def zero_crc(ctx: TrialContext) -> TrialOutcome:
    with _rig(crc_zero=True) as (_, _, node, wire):
        ok, message = _enable(node)
        summary = wire.summary()
        passed = not ok and "with crc 0" in message and summary.commands == 0
        return TrialOutcome(str(summary), passed, f"policy verify; enable: {message[:110]}")


def remote_estop(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.control import Mode
    from dit4dit_ros.g1.remote import encode_remote

    with _rig() as (_, robot, node, wire):
        _running(node)
        t0 = time.monotonic()
        robot.remote = encode_remote(["B"])
        wait_until(lambda: node.mode is Mode.ESTOP, 5.0, what="ESTOP")
        wait_until(lambda: wire.summary(t0).damping > 0, 5.0, what="damping on the wire")
        first = next(c.receive_time for c in wire.snapshot(t0) if not c.kp.any())
        reached, safe = _damped(wire, t0, node)
        return TrialOutcome(reached, safe, f"first damping command {1e3 * (first - t0):.0f} ms after B was pressed "
                            "(one LowState period + one tick)")


def unauthorised_enable_reset(ctx: TrialContext) -> TrialOutcome:
    from diagnostic_msgs.srv import AddDiagnostics
    from std_srvs.srv import Trigger

    from dit4dit_ros.control import Mode

    token_file = ctx.scratch("authority") / "executor.token"
    with _rig(authority="token_or_remote", authority_token_file=str(token_file)) as (harness, _, node, wire):
        def call(srv_type, name, request):
            client = harness.probe.create_client(srv_type, name)
            wait_until(lambda: client.wait_for_service(timeout_sec=0.1), 10.0, what=name)
            future = client.call_async(request)
            wait_until(future.done, 10.0, what=f"a reply from {name}")
            return future.result()

        peer_enable = call(Trigger, "/executor/enable", Trigger.Request())
        guessed = call(AddDiagnostics, "/executor/enable_with_token", AddDiagnostics.Request(load_namespace="0" * 32))
        before = wire.summary().commands
        token = Path(token_file).read_text().strip()
        operator = call(AddDiagnostics, "/executor/enable_with_token", AddDiagnostics.Request(load_namespace=token))
        wait_until(lambda: node.mode is Mode.RUNNING, 5.0, what="RUNNING")
        peer_estop = call(Trigger, "/executor/estop", Trigger.Request())
        t0 = time.monotonic()
        peer_reset = call(Trigger, "/executor/reset_estop", Trigger.Request())
        peer_reenable = call(Trigger, "/executor/enable", Trigger.Request())
        time.sleep(0.2)  # let a (wrongly) re-armed executor show itself on the wire
        reached, safe = _damped(wire, t0, node)
        passed = (not peer_enable.success and not guessed.success and before == 0 and operator.success
                  and peer_estop.success and not peer_reset.success and not peer_reenable.success
                  and node.mode is Mode.ESTOP and safe)
        return TrialOutcome(f"{before} commands before the operator's token; after the peer's e-stop: {reached}",
                            passed, f"peer enable: {peer_enable.message[:70]}; guessed token: {guessed.message[:30]}")


def clipping_alarm(ctx: TrialContext) -> TrialOutcome:
    from diagnostic_msgs.msg import DiagnosticArray

    from dit4dit_ros.g1.joints import G1_JOINTS, JOINT_INDEX
    from dit4dit_ros.nodes import diagnostics as diag
    from dit4dit_ros.nodes.qos import DIAGNOSTICS

    with _rig(no_effect_timeout=0.0) as (harness, _, node, wire):  # this robot never follows: only the filter acts
        _running(node)
        statuses = harness.collect(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        send = _teleop(harness)
        beyond = G1_JOINTS[JOINT_INDEX["left_elbow_joint"]].position_max + 0.5
        t0 = time.monotonic()

        def alarm() -> str:
            send(beyond)
            for _, msg in statuses.snapshot():
                for status in msg.status:
                    if diag.status_level(status) == diag.ERROR and "clipping continuously" in status.message:
                        return status.message
            return ""

        wait_until(lambda: bool(alarm()), 10.0, poll=0.05, what="the clipping alarm on /diagnostics")
        summary = wire.summary(t0)
        return TrialOutcome(str(summary), summary.unsafe == 0 and summary.tracking > 0,
                            f"ERROR on /diagnostics after {time.monotonic() - t0:.1f} s: {alarm()[:80]}")


INTERLOCK_TRIALS: tuple[Trial, ...] = (
    Trial("no-reader-enable", "enable while nothing reads rt/arm_sdk (as on Unitree's simulators)", no_reader_enable,
          slow=False),
    Trial("no-effect", "commands the robot does not follow (a teleop target 0.25 rad away)", no_effect, slow=False),
    Trial("forged-crc", "two LowState with a wrong CRC while running", forged_crc, slow=False),
    Trial("zero-crc", "LowState with crc 0 (Unitree's simulators) under CRC policy verify", zero_crc, slow=False),
    Trial("remote-estop", "B pressed on the wireless remote while running", remote_estop, slow=False),
    Trial("unauthorised-enable", "a peer calls enable, a guessed token, e-stop, then reset_estop and enable",
          unauthorised_enable_reset, slow=False),
    Trial("clipping-alarm", "a teleop target 0.5 rad beyond the elbow's limit, held", clipping_alarm, slow=False),
)
