"""The executor node (in-process; its control process a child) against a scripted LowState source (FakeLowStateRobot): teleop over ROS,
CRC-invalid and stale LowState -> damping on the wire, and the ROS-clock mode that sits out a lock-step
simulator's pause (frozen /clock and LowState) without timing out."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from dit4dit_ros.control import Mode
from dit4dit_ros.g1.joints import JOINT_INDEX
from dit4dit_ros.nodes.executor_node import ExecutorNode
from dit4dit_ros.data.topics import EXECUTOR_STATE_TOPIC
from dit4dit_ros.nodes.qos import COMMANDS, state_qos
from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TYPE, executor_state
from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow

ARM_SDK_SLOTS = np.arange(12, 29)
ELBOW = JOINT_INDEX["left_elbow_joint"]


class Wire:
    """LowCmd_ on rt/arm_sdk, stored raw by the listener and parsed on demand."""

    def __init__(self) -> None:
        from unitree_sdk2py.core.channel import ChannelSubscriber
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        self._lock = threading.Lock()
        self._raw: list = []
        self._parsed: list = []
        self.received = 0
        self._sub = ChannelSubscriber("rt/arm_sdk", LowCmd_)
        self._sub.Init(self._on_cmd, 0)

    def _on_cmd(self, msg) -> None:
        t = time.monotonic()
        with self._lock:
            self._raw.append((t, msg))
            self.received += 1

    def commands(self, start: int = 0) -> list:
        from dit4dit_ros.g1.lowcmd import parse_lowcmd

        with self._lock:
            raw, self._raw = self._raw, []
        self._parsed.extend(parse_lowcmd(m, t) for t, m in raw)
        return self._parsed[start:]

    def close(self) -> None:
        self._sub.Close()


@pytest.fixture
def rig():
    robot = FakeLowStateRobot(rate_hz=500.0, max_seconds=60.0)
    robot.resume()
    wire = Wire()
    harness = RosHarness()
    try:
        yield harness, robot, wire
    finally:
        harness.shutdown()
        wire.close()
        robot.close()


def _start(harness: RosHarness, **params) -> ExecutorNode:
    # realtime and the default state_timeout (50 ms), as on the robot (config/g1_real.yaml): the scripted robot
    # publishes from its own SCHED_FIFO process, so a stale LowState here is the executor's fault, not the host's
    base = {"soft_start_time": 0.1, "input_timeout": 5.0, "hold_timeout": 5.0, "disable_damping_time": 0.1,
            "state_rate": 20.0, "realtime": True,
            "no_effect_timeout": 0.0}  # FakeLowStateRobot never follows commands (that watchdog: test_executor_interlocks_node)
    base.update(params)
    node = harness.make_node(ExecutorNode, parameter_overrides=[Parameter(k, value=v) for k, v in base.items()])
    wait_until(lambda: node.state_dict()["lowstate_rate_hz"] > 100, 20.0, what="LowState at the executor")
    # (with clock:=ros, enable is refused until /clock runs)
    wait_until(lambda: node._srv_enable(Trigger.Request(), Trigger.Response()).success, 10.0, poll=0.05, what="enable")
    try:
        wait_until(lambda: node.mode is Mode.RUNNING, 5.0, what="RUNNING")
    except Exception:
        raise AssertionError(f"{node.state_dict()} {node.status()}") from None
    return node


def test_teleop_then_invalid_and_stale_state_damp_on_the_wire(rig):
    harness, robot, wire = rig
    node = _start(harness)
    teleop = harness.probe.create_publisher(JointState, "/dit4dit/teleop/joint_command", COMMANDS)
    wait_until(lambda: harness.probe.count_subscribers("/dit4dit/teleop/joint_command") > 0, 10.0, what="teleop sub")
    start = robot.tick
    target = robot.joint_position(ELBOW) + 0.2  # this robot does not move: stay in the tracking window
    n0 = wire.received

    def elbow_commanded() -> bool:
        teleop.publish(JointState(name=["left_elbow_joint"], position=[target]))
        cmds = wire.commands(n0)
        return bool(cmds) and abs(cmds[-1].q[ELBOW] - target) < 0.05

    wait_until(elbow_commanded, 10.0, poll=0.05, what="the teleop target on the wire")
    assert node.status()["counts"]["teleop_accepted"] > 0 and robot.tick > start
    # a CRC-invalid LowState -> damping
    n1 = wire.received
    robot.send_bad(2)
    wait_until(lambda: node.mode is Mode.DAMPING, 5.0, what="DAMPING after a bad CRC")
    assert "CRC" in node.status()["mode_reason"]
    wait_until(lambda: any(not c.kp[ARM_SDK_SLOTS].any() for c in wire.commands(n1)), 5.0, what="damping on the wire")
    # re-enable, then the robot falls silent -> damping (and the damping commands keep coming)
    assert node._srv_enable(Trigger.Request(), Trigger.Response()).success
    wait_until(lambda: node.mode is Mode.RUNNING, 5.0, what="RUNNING again")
    robot.pause()
    wait_until(lambda: node.mode is Mode.DAMPING, 5.0, what="DAMPING on stale LowState")
    assert "stale" in node.status()["mode_reason"]
    # every command the executor sent after the status that reported DAMPING is a damping command. Counted by
    # the executor's own sequence (commands_sent), not by this process's receive time: a starved receiver
    # delivers older commands late. (A lost message only shifts the index onto later, damping, commands.)
    n2 = node.status()["commands_sent"]
    wait_until(lambda: wire.received > n2 + 40, 10.0, what="damping commands while the robot is silent")
    after = wire.commands(n2)
    assert len(after) > 20 and all(not c.kp[ARM_SDK_SLOTS].any() for c in after)


class SimClock:
    """A lock-step simulator's time: /clock from this test's probe every 2 ms of wall time, and the fake
    robot's LowState tick (milliseconds of the same simulated time); `freeze` stops both, like a pause."""

    def __init__(self, harness: RosHarness, robot: FakeLowStateRobot) -> None:
        self.time = 100.0
        self.frozen = threading.Event()
        self._robot = robot
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pub = harness.probe.create_publisher(Clock, "/clock", 10)
        robot.set_sim_clock(self.time, 1.0)  # the robot's process advances the same time at the same rate
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                if not self.frozen.is_set():
                    self.time += now - last
                    msg = Clock()
                    msg.clock.sec, msg.clock.nanosec = int(self.time), int((self.time - int(self.time)) * 1e9)
                    self._pub.publish(msg)
                last = now
            self._stop.wait(0.002)

    def freeze(self) -> float:
        """Stop both; returns the simulated time they stopped at (the last /clock published)."""
        with self._lock:
            self.frozen.set()
            self._robot.set_sim_clock(self.time, 0.0)
            return self.time

    def unfreeze(self) -> None:
        with self._lock:
            self.frozen.clear()
            self._robot.set_sim_clock(self.time, 1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_ros_clock_mode_waits_out_a_frozen_simulation(rig):
    harness, robot, wire = rig
    clock = SimClock(harness, robot)
    try:
        node = _start(harness, clock="ros", use_sim_time=True, state_timeout=0.1)
        assert node.state_dict()["clock"] == "ros"
        states = harness.collect(EXECUTOR_STATE_TYPE, EXECUTOR_STATE_TOPIC, state_qos())
        # the lock-step pause: /clock and LowState stop together for longer than every timeout
        frozen_at = clock.freeze()
        robot.pause()  # returns once the robot sent its last LowState: robot.tick is final
        # what was sent before the pause may still be on its way (a starved rclpy thread holds /clock for tens of
        # ms): the pause starts once the node has both, not after a guessed delay
        wait_until(lambda: abs(node.rt.block.read_clock() - frozen_at) < 1e-6
                   and node.status().get("lowstate_tick") == robot.tick, 10.0,
                   what="the last /clock and the last LowState at the executor")
        n0, s0 = node.status()["commands_sent"], len(states)
        wait_until(lambda t=time.monotonic(): time.monotonic() - t > 0.6, 2.0, what="0.6 s of pause")
        # counted by the control process's own sequence (not by arrivals at this test's listener, which may lag):
        # at most the one tick that read the clock just before the node wrote its last value
        assert node.status()["commands_sent"] - n0 <= 1, "commands must stop while simulated time stands still"
        assert node.mode is Mode.RUNNING, node.status()["mode_reason"]
        # the state goes on (steady-clock timer, 20 Hz): an evaluator holding the simulator waits on it; the control
        # loop's time stands still with the simulation
        paused = [executor_state(m) for _, m in states.snapshot()[s0:]]
        assert len(paused) >= 5, len(paused)
        assert len({st["control_time"] for st in paused[1:]}) == 1, [st["control_time"] for st in paused]
        # resume: commands flow again, still RUNNING, no damping
        robot.resume()
        clock.unfreeze()
        n1 = wire.received
        wait_until(lambda: wire.received > n1 + 100, 10.0, what="commands after the pause")
        assert node.mode is Mode.RUNNING
        assert all(c.kp[ARM_SDK_SLOTS].any() for c in wire.commands(n1))
        # the LowState stream stops while /clock runs on: that is a silent robot -> damping
        robot.pause()
        wait_until(lambda: node.mode is Mode.DAMPING, 5.0, what="DAMPING on a silent robot")
        assert "stale" in node.status()["mode_reason"]
    finally:
        clock.close()


def test_ros_clock_mode_rides_out_a_starved_clock_subscription(rig):
    """Root cause of a flake: /clock is handled on the rclpy thread; when that thread stalls, the node's ROS
    clock stands still while the simulation (and its LowState) runs on. The executor must neither stop
    ticking nor take the live robot for a silent one (its LowState carries the robot's own time)."""
    harness, robot, wire = rig
    clock = SimClock(harness, robot)
    try:
        node = _start(harness, clock="ros", use_sim_time=True, state_timeout=0.1)
        stalls: list[int] = []  # tracking commands the control process sent during each stall (its own count)

        def stall() -> None:  # runs on the harness's only rclpy thread: no /clock reaches the node meanwhile
            if len(stalls) < 3:
                n = node.rt.last_command()[0]
                time.sleep(0.3)
                stalls.append(node.rt.last_command()[0] - n)

        timer = harness.probe.create_timer(0.4, stall)
        wait_until(lambda: len(stalls) >= 3, 10.0, what="three 0.3 s stalls of the rclpy thread")
        timer.cancel()
        harness.probe.destroy_timer(timer)
        assert node.mode is Mode.RUNNING, node.status()["mode_reason"]
        assert node.status()["counts"].get("entered_damping", 0) == 0
        # the robot kept running, so did the control loop: commands went out during every stall (150 at 500 Hz
        # on an idle machine; before the fix the frozen ROS clock skipped every tick of it: 0)
        assert min(stalls) > 0, stalls
    finally:
        clock.close()


def test_lowcmd_path_commands_all_29_motors_and_legs_hold_the_enable_pose(rig):
    harness, robot, _ = rig
    from unitree_sdk2py.core.channel import ChannelSubscriber
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

    from dit4dit_ros.g1.lowcmd import parse_lowcmd

    received: list = []
    sub = ChannelSubscriber("rt/lowcmd", LowCmd_)
    sub.Init(received.append, 0)
    try:
        node = _start(harness, control_path="lowcmd")
        assert len(node.cfg.controllable_joints) == 29  # 'auto' on rt/lowcmd: every joint
        enable_pose = np.array(node.status()["base_pose"])
        n0 = len(received)
        wait_until(lambda: len(received) > n0 + 50, 10.0, what="rt/lowcmd commands")
        for msg in received[n0:n0 + 50]:
            c = parse_lowcmd(msg)
            assert c.crc_ok and np.all(c.motor_mode == 1) and np.all(c.kp > 0)
            assert c.mode_machine == 5  # echoed from LowState
            np.testing.assert_allclose(c.q[:12], enable_pose[:12], atol=1e-5)  # legs hold (no input for them)
    finally:
        sub.Close()
