"""The executor node as a child process against the MuJoCo robot process, over real DDS on loopback.

`dit4dit sim-robot --no-ros` plays the G1 (rt/arm_sdk in, rt/lowstate out) on this run's Unitree domain; the
executor node reads rt/lowstate and writes rt/arm_sdk with the Unitree SDK; this test process talks ROS to
the node (services, chunks, e-stop topic, state JSON) and records every LowCmd_ on the wire with its own
unitree_sdk2py subscriber. The tests share one robot and one executor and run in file order.
time.monotonic() is CLOCK_MONOTONIC, common to all processes of the machine, so the node's e-stop latch time
and this process's receive times are comparable.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dit4dit_ros.g1.joints import JOINT_INDEX, LEFT_ARM, joint_indices, limits_array
from dit4dit_ros.nodes.qos import COMMANDS, STATE
from dit4dit_ros.nodes.status_msgs import executor_state
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.sim.process import SimRobotProcess
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow

MARGIN = 0.05
ARM_SDK_SLOTS = np.arange(12, 29)  # waist + arms: the joints the arm_sdk path commands
NODE_PARAMS = {
    "control_path": "arm_sdk",
    "soft_start_time": 0.3,
    "disable_damping_time": 0.3,
    "input_timeout": 3.0,
    "hold_timeout": 5.0,
    "state_timeout": 0.25,  # 2 shared cores: the sim's LowState can pause for ~0.1 s
    "position_margin": MARGIN,
    "state_rate": 20.0,
}
L_ARM = joint_indices(LEFT_ARM)
ELBOW = JOINT_INDEX["left_elbow_joint"]


class WireLog:
    """Every LowCmd_ on rt/arm_sdk and the newest LowState_, recorded in this process.

    Uses the project's raw-CDR readers (g1/dds.py: the CDR is decoded in ~30 us): the SDK's Python
    deserializer (~0.4 ms a message) could not keep up with 500 Hz in a busy test process and lost messages.
    Receive stamps are taken before decoding, so a decode never fakes a latency.
    """

    def __init__(self) -> None:
        from dit4dit_ros.g1.dds import LowCmdReader, LowStateReader, init_unitree_dds

        init_unitree_dds()
        self._lock = threading.Lock()
        self._parsed: list = []
        self._state = None
        self._cmd_reader = LowCmdReader("rt/arm_sdk", self._on_cmd)
        self._state_reader = LowStateReader(self._on_state)

    def _on_cmd(self, sample) -> None:
        with self._lock:
            self._parsed.append(sample)

    def _on_state(self, sample) -> None:
        self._state = sample

    @property
    def state(self):
        return self._state

    def count(self) -> int:
        """Commands received so far (an index for commands())."""
        with self._lock:
            return len(self._parsed)

    def commands(self, start: int = 0) -> list:
        """Received commands (LowCmdSample) in arrival order from index `start` (a previous count())."""
        with self._lock:
            return list(self._parsed[start:])

    def close(self) -> None:
        self._cmd_reader.close()
        self._state_reader.close()


class Executor:
    """The node process plus this process's ROS side (services, publishers, state)."""

    def __init__(self, harness: RosHarness, proc: subprocess.Popen, log_path: Path) -> None:
        self.harness, self.proc, self.log_path = harness, proc, log_path
        node = harness.probe
        self.chunks = node.create_publisher(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        self.estop_pub = node.create_publisher(Bool, "/dit4dit/estop", COMMANDS)
        self.states = harness.collect(DiagnosticStatus, "/dit4dit/executor/state", STATE)
        self.clients = {name: node.create_client(Trigger, f"/executor/{name}") for name in ("enable", "disable", "estop", "reset_estop")}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def call(self, name: str, timeout: float = 10.0) -> Trigger.Response:
        client = self.clients[name]
        wait_until(client.service_is_ready, timeout, what=f"service /executor/{name}")
        future = client.call_async(Trigger.Request())
        wait_until(future.done, timeout, what=f"/executor/{name} response")
        return future.result()

    def state(self) -> dict:
        snap = self.states.snapshot()
        return executor_state(snap[-1][1]) if snap else {}

    def wait_mode(self, mode: str, timeout: float = 10.0) -> dict:
        wait_until(lambda: self.state().get("mode") == mode or self.proc.poll() is not None, timeout,
                   what=f"executor mode {mode}")
        assert self.proc.poll() is None, self.log()
        return self.state()

    def ensure_running(self) -> None:
        """RUNNING whatever an earlier test left (each test stands alone: `-k` one of them works)."""
        wait_until(lambda: self.state().get("mode") not in (None, "SOFT_START"), 10, what="the executor's state")
        if self.state().get("mode") == "ESTOP":
            assert self.call("reset_estop").success
            self.wait_mode("DISABLED")
        if self.state().get("mode") == "DISABLED":
            response = self.call("enable")
            assert response.success, response.message
        self.wait_mode("RUNNING")

    def wait_estop_matched(self, timeout: float = 10.0) -> None:
        """Until both ends of the e-stop topic matched: the executor's reader drops what this writer sent before
        the reader matched it (DDS matches the two ends separately; `estop_publishers` is the reader's count)."""
        wait_until(lambda: self.estop_pub.get_subscription_count() > 0
                   and self.state().get("estop_publishers", 0) >= 1, timeout, what="the e-stop topic matched")

    def send_chunk(self, names, positions: np.ndarray, period: float = 1 / 30) -> None:
        msg = JointTrajectory()
        msg.header.stamp = self.harness.probe.get_clock().now().to_msg()  # observation time: now
        msg.joint_names = list(names)
        for k, row in enumerate(positions):
            pt = JointTrajectoryPoint()
            pt.positions = [float(x) for x in row]
            t = k * period
            pt.time_from_start = Duration(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)))
            msg.points.append(pt)
        self.chunks.publish(msg)

    def stream(self, make_positions, seconds: float, every: float = 0.15) -> None:
        """Publish a chunk every `every` s (the policy's rhythm) for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send_chunk(LEFT_ARM, make_positions())
            wait_until(lambda t=time.monotonic() + every: time.monotonic() >= t, every + 1.0, poll=0.01, what="next chunk time")


@pytest.fixture(scope="module")
def rig(tmp_path_factory, repo_root):
    # DDS listener callbacks need the GIL: with the default 5 ms switch interval they queue up behind this
    # process's Python threads and the receive stamps (and the socket buffers) fall behind the wire.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    wire = WireLog()
    sim = SimRobotProcess(["--no-ros", "--duration", "180"]).start()
    log_path = tmp_path_factory.mktemp("executor") / "executor.log"
    args = [sys.executable, "-m", "dit4dit_ros.nodes.executor_node", "--ros-args"]
    for key, value in NODE_PARAMS.items():
        args += ["-p", f"{key}:={value}"]
    proc = None
    harness = RosHarness()
    try:
        wait_until(lambda: wire.state is not None or not sim.alive, 60.0, poll=0.05, what="LowState from the sim robot")
        assert sim.alive, sim.log()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=repo_root,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ex = Executor(harness, proc, log_path)
        wait_until(lambda: ex.clients["enable"].service_is_ready() or proc.poll() is not None, 60.0,
                   what="the executor's enable service")
        assert proc.poll() is None, ex.log()
        wait_until(lambda: ex.state().get("lowstate_rate_hz", 0) > 100, 20.0, what="executor receiving LowState")
        yield ex, wire, sim
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5.0)
        harness.shutdown()
        code = sim.stop()
        wire.close()
        sys.setswitchinterval(switch_interval)
        assert code == 0, f"sim-robot exit code {code}\n{sim.log()}"


def _arm_now(wire: WireLog) -> np.ndarray:
    return wire.state.q[L_ARM].copy()


def _is_damping(c) -> bool:
    return not c.kp[ARM_SDK_SLOTS].any()


def _wait_quiet(wire: WireLog, quiet: float = 0.3, timeout: float = 5.0) -> None:
    """Until no LowCmd arrived for `quiet` s (the stream stopped and this process caught up)."""
    last = [wire.count(), time.monotonic()]

    def settled() -> bool:
        n = wire.count()
        if n != last[0]:
            last[:] = [n, time.monotonic()]
        return time.monotonic() - last[1] >= quiet

    wait_until(settled, timeout, poll=0.02, what=f"{quiet} s without LowCmd on the wire")


def test_enable_soft_start_then_a_chunk_moves_the_elbow(rig):
    ex, wire, _ = rig
    n0 = wire.count()
    response = ex.call("enable")
    assert response.success, response.message
    ex.wait_mode("RUNNING")
    wait_until(lambda: any(c.arm_sdk_weight >= 1.0 for c in wire.commands(n0)), 10.0, what="arm_sdk weight 1 on the wire")
    cmds = wire.commands(n0)
    end = next(i for i, c in enumerate(cmds) if c.arm_sdk_weight >= 1.0)
    soft = cmds[: end + 1]
    weights = np.array([c.arm_sdk_weight for c in soft])
    assert weights[0] < 0.2 and np.all(np.diff(weights) >= -1e-6)  # ramps from 0 to 1, never jumps back
    assert all(c.crc_ok and not _is_damping(c) for c in soft)
    # the soft start commands the pose the robot had (no jump at enable)
    assert np.abs(soft[0].q[L_ARM] - _arm_now(wire)).max() < 0.1
    start = wire.state.q[ELBOW]
    target = min(start + 0.5, limits_array("position_max")[ELBOW] - 0.2)

    def ramp_to_target() -> np.ndarray:
        q = _arm_now(wire)
        pos = np.tile(q, (16, 1))
        pos[:, 3] = np.linspace(q[3], target, 16)
        return pos

    ex.stream(ramp_to_target, seconds=2.5)
    assert wire.state.q[ELBOW] > start + 0.25, (start, wire.state.q[ELBOW])
    state = ex.state()
    assert state["counts"].get("policy_accepted", 0) >= 10
    assert state["command_rate_hz"] > 100, state  # 500 on an idle machine; this one is shared by ~6 engineers
    # each chunk's way to the control process, from its DDS message info (nodes/chunk_delivery.py): every
    # chunk counted, both DDS stamps filled by the middleware, and on one host no leg can be negative
    delivery = state["chunk_delivery"]
    assert delivery["chunks"] >= state["counts"]["policy_accepted"] and delivery["unstamped"] == 0, delivery
    assert min(delivery[f"{leg}_p50_ms"] for leg in ("transport", "queue", "handoff")) >= 0, delivery
    t = state["tick"]
    print(f"executor 500 Hz thread: {t['rate_hz']:.1f} Hz, period p50/p99/max {1e3 * t['period_p50']:.2f}/"
          f"{1e3 * t['period_p99']:.2f}/{1e3 * t['period_max']:.2f} ms, late p99 {1e3 * t['late_p99']:.2f} ms, "
          f"work p50/p99 {1e6 * t['work_p50']:.0f}/{1e6 * t['work_p99']:.0f} us, overruns {t['overruns']}")
    print("chunk delivery (p50/max ms): " + ", ".join(
        f"{leg} {delivery[f'{leg}_p50_ms']:.2f}/{delivery[f'{leg}_max_ms']:.2f}" for leg in ("transport", "queue", "handoff")))


def test_out_of_limit_chunks_never_produce_an_out_of_limit_command_on_the_wire(rig):
    ex, wire, _ = rig
    ex.ensure_running()
    n0 = wire.count()
    lo, hi = limits_array("position_min", LEFT_ARM), limits_array("position_max", LEFT_ARM)
    # the elbow far beyond its max, the wrist pitch far beyond its min (motions that do not hit the body:
    # a flailing arm would move faster than the command may, and then the tracking window drags the command)
    wild = _arm_now(wire)
    wild[3], wild[5] = hi[3] + 2.0, lo[5] - 2.0
    ex.stream(lambda: np.tile(wild, (16, 1)), seconds=2.0)
    # a malformed chunk (a point with a missing position) is rejected with its reason
    bad = JointTrajectory()
    bad.header.stamp = ex.harness.probe.get_clock().now().to_msg()
    bad.joint_names = list(LEFT_ARM)
    bad.points = [JointTrajectoryPoint(positions=[float(x) for x in wild[:6]])]
    ex.chunks.publish(bad)
    wait_until(lambda: "expected 7" in ex.state().get("last_rejection", ""), 5.0, what="the malformed chunk's rejection")
    commands = [c for c in wire.commands(n0) if not _is_damping(c)]
    assert len(commands) > 200
    pmin = limits_array("position_min") + MARGIN
    pmax = limits_array("position_max") - MARGIN
    tol = 1e-5  # LowCmd_ carries float32
    for c in commands:
        assert c.crc_ok and not c.problems()
        q = c.q[ARM_SDK_SLOTS]
        assert np.all(q >= pmin[ARM_SDK_SLOTS] - tol) and np.all(q <= pmax[ARM_SDK_SLOTS] + tol), q
    # and the limits were really reached (the clipping was exercised, not avoided)
    final = commands[-1].q
    assert final[ELBOW] == pytest.approx(pmax[ELBOW], abs=0.01)
    wrist = JOINT_INDEX["left_wrist_pitch_joint"]
    assert final[wrist] == pytest.approx(pmin[wrist], abs=0.01)
    # consecutive commands move at most max_velocity * tick. The rate limits are checked strictly on every
    # command in tests/test_control_safety.py; here this busy receiver loses bursts of messages under load
    # (no sequence number in LowCmd_), so only the bulk of consecutive pairs is checked.
    steps = np.abs(np.diff(np.array([c.q[ARM_SDK_SLOTS] for c in commands]), axis=0)).max(axis=1)
    within = np.mean(steps <= 3.0 * 0.002 + tol)
    assert within >= 0.8, f"only {within:.0%} of received consecutive commands within one tick of max velocity"
    assert ex.state()["limit_hits"]["position"] > 0
    print(f"out-of-limit run: {len(commands)} commands received in ~2 s, all within position limits; "
          f"{within:.1%} of consecutive pairs within one tick of max velocity (others: lost messages)")


def test_estop_reaches_the_robot_as_damping_in_the_next_tick(rig):
    ex, wire, _ = rig
    ex.ensure_running()
    ex.send_chunk(LEFT_ARM, np.tile(_arm_now(wire), (16, 1)))
    ex.wait_estop_matched()
    n0 = wire.count()
    t_pub = time.monotonic()
    ex.estop_pub.publish(Bool(data=True))
    state = ex.wait_mode("ESTOP")
    latched = state["estop_latched_at"]
    assert latched is not None and latched >= t_pub - 1e-3
    # control ticks: the tick that latched the e-stop wrote the first damping command (the latency in ms is a
    # figure of `dit4dit bench`, not a test: it depends on the machine's load)
    assert state["estop_first_damping_tick"] == state["estop_latched_tick"] is not None, state
    sent = state["estop_first_damping_sent_at"]
    assert sent is not None and sent >= latched
    # on the wire: tracking commands, then damping only (latched)
    wait_until(lambda: sum(map(_is_damping, wire.commands(n0))) >= 20, 5.0, what="damping commands on the wire")
    after = wire.commands(n0)
    damping = [_is_damping(c) for c in after]
    first = damping.index(True)
    assert all(damping[first:]), "e-stop must latch: every later command is damping"
    c = after[first]
    assert np.all(c.kd[ARM_SDK_SLOTS] > 0) and not c.dq[ARM_SDK_SLOTS].any() and not c.tau[ARM_SDK_SLOTS].any()
    print(f"e-stop: first damping command written {1e3 * (sent - latched):.2f} ms after the latch "
          f"({1e3 * (latched - t_pub):.2f} ms after the ROS publish); received by this process "
          f"{1e3 * (c.receive_time - latched):.2f} ms after the latch")
    # latched: enable is refused until reset; reset -> disabled -> the command stream stops
    response = ex.call("enable")
    assert not response.success and "e-stop" in response.message
    assert ex.call("reset_estop").success
    ex.wait_mode("DISABLED")
    _wait_quiet(wire)


def test_shutdown_sends_damping_then_stops(rig):
    ex, wire, _ = rig
    ex.call("reset_estop")  # in case the e-stop test left it latched
    assert ex.call("enable").success
    ex.wait_mode("RUNNING")
    ex.send_chunk(LEFT_ARM, np.tile(_arm_now(wire), (16, 1)))
    wait_until(lambda: ex.state().get("commands_sent", 0) > 0 and wire.count() > 0, 5.0, what="commands")
    n0 = wire.count()
    ex.proc.send_signal(signal.SIGINT)
    try:
        code = ex.proc.wait(15.0)
    except subprocess.TimeoutExpired:
        ex.proc.kill()
        pytest.fail(f"executor did not exit within 15 s of SIGINT:\n{ex.log()}")
    assert code == 0, ex.log()
    _wait_quiet(wire)
    after = wire.commands(n0)
    damping = [_is_damping(c) for c in after]
    assert True in damping, "no damping command before the executor stopped"
    first = damping.index(True)
    assert all(damping[first:]), "nothing but damping once shutdown began"
    assert sum(damping) >= 30  # ~0.3 s at 500 Hz sent; some are lost on this machine
    # the arms are handed back to the robot's controller: the weight ramps down (to a final 0, which
    # tests/test_control_modes.py checks exactly; this busy receiver may lose the last messages)
    weights = [c.arm_sdk_weight for c in after[first:]]
    assert np.all(np.diff(weights) <= 1e-6) and weights[-1] < 0.3
    # the ramp is counted in ticks: disable_damping_time / tick period damping ticks, then the final
    # weight-0 command, all written before the stream stopped
    ticks = round(NODE_PARAMS["disable_damping_time"] * 500) + 1
    assert f"executor stopped after {ticks} damping ticks" in ex.log(), ex.log()
