"""The executor's real-time process without ROS: a LowState stream from this test process (the robot), the
process started by RtClient, every LowCmd on rt/arm_sdk recorded here. What is checked is counted in ticks
and ordering, never in milliseconds: the e-stop's first damping command goes out in the tick that latches
it; the node's death -> a damping ramp of exactly its number of ticks, then silence and exit; the node's hang ->
damping, then silence, and the process takes the node's enable once it runs again; the process's death is
noticed by the client."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from dit4dit_ros.control.executor_params import defaults
from dit4dit_ros.control.rt import shm as S
from dit4dit_ros.control.rt.client import RtClient
from dit4dit_ros.utils.dds_env import isolation_from_env
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow
ARM_SDK_SLOTS = np.arange(12, 29)
DAMPING_TIME = 0.1  # s: 50 ticks at 500 Hz


def _params(**over) -> dict:
    p = defaults()
    p.update(gravity_compensation=False, soft_start_time=0.05, disable_damping_time=DAMPING_TIME,
             input_timeout=5.0, hold_timeout=5.0, state_timeout=0.5, node_heartbeat_timeout=0.5)
    p.update(over)
    return p


def _isolation() -> dict:
    iso = isolation_from_env()
    return {"ros_domain_id": iso.ros_domain_id, "unitree_domain_id": iso.unitree_domain_id,
            "unitree_interface": iso.unitree_interface}


class Robot:
    """LowState at ~500 Hz from a thread, and every LowCmd_ on rt/arm_sdk (damping or not, in order)."""

    def __init__(self) -> None:
        from dit4dit_ros.g1.dds import LowCmdReader, LowStateWriter, init_unitree_dds

        init_unitree_dds()
        self.writer = LowStateWriter()
        self.lock = threading.Lock()
        self.cmds: list = []
        self.reader = LowCmdReader("rt/arm_sdk", self._on_cmd)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_cmd(self, sample) -> None:
        with self.lock:
            self.cmds.append(sample)

    def _run(self) -> None:
        from dit4dit_ros.g1.lowstate import encode_lowstate_cdr

        q = 0.01 * np.arange(29)
        k = 0
        while not self._stop.wait(0.002):
            k += 2
            self.writer.write_serialized(encode_lowstate_cdr(q, 0 * q, 0 * q, np.array([1.0, 0, 0, 0]), np.zeros(3),
                                                             np.zeros(3), tick=k, mode_machine=5))

    def damping(self, start: int = 0) -> list[bool]:
        with self.lock:
            return [not c.kp[ARM_SDK_SLOTS].any() for c in self.cmds[start:]]

    def count(self) -> int:
        with self.lock:
            return len(self.cmds)

    def quiet(self, seconds: float = 0.3) -> None:
        """Wait until no command has arrived for `seconds` (the stream stopped)."""
        last = [self.count(), time.monotonic()]

        def still() -> bool:
            n = self.count()
            if n != last[0]:
                last[:] = [n, time.monotonic()]
            return time.monotonic() - last[1] > seconds
        wait_until(still, 10.0, what="the command stream to stop")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.reader.close()
        self.writer.close()


@pytest.fixture
def robot():
    r = Robot()
    yield r
    r.close()


def test_estop_goes_out_in_the_tick_that_latches_it_and_shutdown_ramps_in_ticks(robot):
    client = RtClient(_params(), _isolation(), 1000)
    try:
        client.start()
        wait_until(lambda: client.status().get("mode_machine") == 5, 10.0, what="LowState at the process")
        assert client.request(S.ENABLE) == (True, "soft start")
        wait_until(lambda: client.status().get("mode") == "RUNNING", 10.0, what="RUNNING")
        client.estop("test e-stop")
        wait_until(lambda: client.status().get("estop_first_damping_tick") is not None, 5.0, what="e-stop damping")
        st = client.status()
        assert st["mode"] == "ESTOP" and st["mode_reason"] == "test e-stop"
        assert st["estop_first_damping_tick"] == st["estop_latched_tick"]
        levels = [text for _lvl, text in client.new_logs()]
        assert any("-> ESTOP: test e-stop" in t for t in levels), levels
        assert client.request(S.ENABLE)[0] is False  # latched
        assert client.request(S.RESET_ESTOP)[0] and client.request(S.ENABLE)[0]
        wait_until(lambda: client.status().get("mode") == "RUNNING", 10.0, what="RUNNING again")
        n0 = robot.count()
        assert client.stop() == 0
        final = client.status()
        # disable_damping_time in ticks, plus the final weight-0 command; all of them before the process ended
        assert final["shutdown_damping_ticks"] == round(DAMPING_TIME * 500) + 1
        assert final["mode"] == "DISABLED" and final["stopping"] == "stop requested by the node"
        robot.quiet()
        damping = robot.damping(n0)
        first = damping.index(True)
        assert all(damping[first:]) and sum(damping) > 0
    finally:
        client.close()


_PARENT = """
import json, os, sys, time
from dit4dit_ros.control.rt import shm as S
from dit4dit_ros.control.rt.client import RtClient
params, iso = json.loads(sys.argv[1]), json.loads(sys.argv[2])
c = RtClient(params, iso, 1000)
c.start()
deadline = time.monotonic() + 20
while c.status().get("mode_machine") != 5 and time.monotonic() < deadline:
    time.sleep(0.01)
print(c.request(S.ENABLE), c.pid, flush=True)
for line in sys.stdin:  # one request per line until the test closes stdin (or kills this process)
    if line.strip() == "enable":
        print(c.request(S.ENABLE), flush=True)
    elif line.strip() == "status":
        st = c.status()
        print(json.dumps({k: st.get(k) for k in ("mode", "node_silent", "node_silences", "stopping")}), flush=True)
"""


@pytest.mark.parametrize("how", ["killed", "hung"])
def test_the_process_damps_when_its_node_dies_or_hangs_and_only_a_death_ends_it(robot, how):
    """A hang may be a stall that ends (a host that did not run the node for 2 s): the process disables and goes
    on, and the node enables it again when it runs; a killed node ends it."""
    import json

    parent = subprocess.Popen([sys.executable, "-c", _PARENT, json.dumps(_params()), json.dumps(_isolation())],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert "(True, 'soft start')" in line, line
        rt_pid = int(line.split()[-1])
        wait_until(lambda: robot.count() > 50 and not robot.damping()[-1], 10.0, what="tracking commands")
        n0 = robot.count()
        if how == "killed":
            parent.kill()  # no chance to stop its child: PR_SET_PDEATHSIG does
            wait_until(lambda: not _alive(rt_pid), 10.0, what="the control process to exit")
        else:
            parent.send_signal(signal.SIGSTOP)  # alive but frozen: the heartbeat stops
        robot.quiet()
        damping = robot.damping(n0)
        assert True in damping, "no damping before the stream stopped"
        first = damping.index(True)
        assert all(damping[first:]), "nothing but damping once the node was gone"
        if how == "hung":
            assert _alive(rt_pid), "the control process ended on a hang of its node"
            parent.send_signal(signal.SIGCONT)
            parent.stdin.write("status\nenable\n")
            parent.stdin.flush()
            status = json.loads(parent.stdout.readline())
            assert status["mode"] == "DISABLED" and status["node_silences"] == 1 and not status["stopping"], status
            assert "(True, 'soft start')" in parent.stdout.readline()
            n1 = robot.count()
            wait_until(lambda: robot.count() > n1 + 50 and not robot.damping()[-1], 10.0,
                       what="tracking commands after the node ran again")
    finally:
        if parent.poll() is None:
            parent.send_signal(signal.SIGCONT)
            parent.kill()
        parent.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (not yet reaped by its dead parent) has stopped too
        return f.read().split()[2] != "Z"


def test_the_client_notices_the_process_dying(robot):
    client = RtClient(_params(), _isolation(), 1000)
    try:
        client.start()
        assert client.alive() == (True, "")
        os.kill(client.pid, signal.SIGKILL)
        wait_until(lambda: not client.alive()[0], 5.0, what="the client to notice")
        assert "exited" in client.alive()[1]
        assert client.request(S.ENABLE)[0] is False
    finally:
        client.close()


def test_a_bad_configuration_fails_the_start_with_its_reason(robot):
    client = RtClient(_params(gravity_compensation=True, controllable_joints=["no_such_joint"]), _isolation(), 1000)
    with pytest.raises(RuntimeError, match="no_such_joint"):
        client.start()


def _thread_policies(pid: int) -> dict[str, int]:
    """{thread name: scheduling policy} of every thread of `pid` (names as the kernel has them)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            out[f"{f.read().strip()}/{tid}"] = os.sched_getscheduler(int(tid))
    return out


def test_the_dds_threads_of_a_real_time_process_run_under_its_sched_fifo(robot):
    """CycloneDDS's receive threads deliver the LowState the tick takes: at normal priority a loaded host starves
    them and a live robot looks silent. They are created after the grant, so they inherit SCHED_FIFO."""
    from dit4dit_ros.utils.realtime import realtime_available

    ok, why = realtime_available(20)
    if not ok:
        pytest.skip(f"SCHED_FIFO is not available here: {why}")
    client = RtClient(_params(realtime=True, realtime_priority=20), _isolation(), 1000)
    try:
        client.start()
        wait_until(lambda: client.status().get("mode_machine") == 5, 10.0, what="LowState at the process")
        assert client.status()["realtime"]["scheduler"] == "SCHED_FIFO:20"
        policies = _thread_policies(client.pid)
        receive = {name: policy for name, policy in policies.items() if name.startswith("recv")}
        assert receive, f"no CycloneDDS receive thread found among {sorted(policies)}"
        assert all(policy == os.SCHED_FIFO for policy in receive.values()), policies
    finally:
        client.close()


class Hands:
    """Both Dex3-1 hands as the robot plays them: HandState at 100 Hz from `q` (held), every HandCmd_ kept."""

    def __init__(self, q: dict) -> None:
        from dit4dit_ros.g1.hand_dds import HandCmdReader, HandStateWriter
        from dit4dit_ros.g1.hands import HandSide

        self.q = q
        self.lock = threading.Lock()
        self.cmds: dict = {side: [] for side in HandSide}
        self.writers = {side: HandStateWriter(side) for side in HandSide}
        self.readers = [HandCmdReader(side, self._on_cmd) for side in HandSide]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_cmd(self, side, cmd) -> None:
        with self.lock:
            self.cmds[side].append(cmd)

    def _run(self) -> None:
        zeros = np.zeros(7)
        while not self._stop.wait(0.01):
            for side, writer in self.writers.items():
                writer.write_state(self.q[side], zeros, zeros)

    def commands(self, side) -> list:
        with self.lock:
            return list(self.cmds[side])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        for entity in (*self.readers, *self.writers.values()):
            entity.close()


def test_the_hands_follow_a_chunks_gripper_column_and_damp_on_estop(robot):
    """hands: dex3 -> the chunk's left_gripper column drives rt/dex3/left/cmd (position tracking towards the
    synergy pose, within the torque limit), the right hand without a target holds its measured pose, and an
    e-stop damps both hands."""
    from dit4dit_ros.control.chunk import ActionChunk
    from dit4dit_ros.g1.hand_command import gripper_to_joints
    from dit4dit_ros.g1.hands import HandSide

    open_q = {side: gripper_to_joints(side, 0.0) for side in HandSide}
    hands = Hands(open_q)
    client = RtClient(_params(hands="dex3"), _isolation(), 1000)
    try:
        client.start()
        wait_until(lambda: client.status().get("mode_machine") == 5, 10.0, what="LowState at the process")
        assert client.request(S.ENABLE) == (True, "soft start")
        wait_until(lambda: client.status().get("mode") == "RUNNING", 10.0, what="RUNNING")
        q0 = np.array(client.status()["measured_q"])
        from dit4dit_ros.g1.joints import JOINT_INDEX

        arm = "left_elbow_joint"
        chunk = ActionChunk((arm, "left_gripper"), time.monotonic(), np.array([0.0, 0.5]),
                            np.array([[q0[JOINT_INDEX[arm]], 1.0], [q0[JOINT_INDEX[arm]], 1.0]]))
        assert client.reply(client.submit_chunk(chunk)) == (True, "")
        n_left = len(hands.commands(HandSide.LEFT))
        wait_until(lambda: len(hands.commands(HandSide.LEFT)) > n_left + 20, 10.0, what="hand commands")
        closed = gripper_to_joints(HandSide.LEFT, 1.0)
        last = hands.commands(HandSide.LEFT)[-1]
        moved = last.q - open_q[HandSide.LEFT]
        towards = closed - open_q[HandSide.LEFT]
        assert np.all(last.kp > 0) and np.dot(moved, towards) > 0, (last.q, closed)
        assert np.all(np.sign(moved[towards != 0]) * np.sign(towards[towards != 0]) >= 0)
        right = hands.commands(HandSide.RIGHT)[-1]
        assert np.all(right.kp > 0) and np.allclose(right.q, open_q[HandSide.RIGHT], atol=1e-6)
        status = client.status()
        assert status["hands"]["left"]["rejected"] == 0 and status["hand_commands_sent"] > 0

        bad = ActionChunk(("left_gripper",), time.monotonic(), np.array([0.0]), np.array([[1.5]]))
        ok, reason = client.reply(client.submit_chunk(bad))
        assert not ok and "left gripper values must be finite in [0, 1]" in reason

        client.estop("test e-stop")
        wait_until(lambda: client.status().get("mode") == "ESTOP", 5.0, what="ESTOP")
        n = len(hands.commands(HandSide.LEFT))
        wait_until(lambda: len(hands.commands(HandSide.LEFT)) > n + 5, 5.0, what="hand commands after the e-stop")
        for side in HandSide:
            damping = hands.commands(side)[-1]
            assert np.all(damping.kp == 0) and np.all(damping.kd > 0) and np.all(damping.tau == 0), side
    finally:
        client.close()
        hands.close()


def test_command_echo_steps_the_simulated_physics_by_the_executors_answers():
    """Command-stepped simulation (sim/command_step.py) with the real control process: once the executor answers,
    every LowState waits for the executor's answer to it, which carries that state's tick, and the executor
    answers each state exactly once (one command per state, each applied by the robot)."""
    from dit4dit_ros.sim.dds_bridge import BridgeConfig, SimDdsBridge
    from dit4dit_ros.sim.loop import LoopConfig, NullSink, SimLoop
    from dit4dit_ros.sim.robot import SimRobot

    robot = SimRobot(seed=0)
    bridge = SimDdsBridge(robot, config=BridgeConfig(command_stepped=True, command_step_timeout=2.0))
    loop = SimLoop(robot, LoopConfig(camera=None, clock_rate_hz=0.0, task_rate_hz=0.0), sinks=[bridge])
    at_sync: dict = {}

    class Watch(NullSink):  # after the bridge: notes the first answered state, then runs 2 s of simulation more
        def on_state(self, r) -> None:
            if not at_sync and bridge.stepper.in_step:  # the executor's reader and writer matched: it answers
                at_sync.update(steps=r.counters.steps, answered=bridge.stepper.answered, time=r.time,
                               received=r.counters.arm_sdk_received)
            if at_sync and r.time >= at_sync["time"] + 2.0:
                loop.stop()

    loop.sinks.append(Watch())
    client = RtClient(_params(clock="ros", command_echo=True, auto_enable=True, soft_start_time=0.5), _isolation(), 1000)
    try:
        client.start()
        stats = {}
        runner = threading.Thread(target=lambda: stats.update(vars(loop.run(duration=120.0))), daemon=True)
        runner.start()
        runner.join(150.0)
        assert not runner.is_alive() and at_sync, (stats, at_sync)
        st, counters = client.status(), bridge.counters()
        steps = robot.counters.steps - at_sync["steps"]
        answered = counters["command_steps"] - at_sync["answered"]
        print(f"command-stepped: {counters}; {steps} steps after the first answer; executor {st['mode']}, "
              f"{st['commands_sent']} commands")
        assert counters["command_step_resyncs"] == 1 and counters["command_step_timeouts"] == 0, counters
        assert steps >= 999 and answered == steps, (answered, steps)  # each state after the first answer waited
        assert st["mode"] == "RUNNING"
        # one command per state: the robot applied exactly as many commands as states were answered
        assert robot.counters.arm_sdk_received - at_sync["received"] == answered
    finally:
        client.close()
        bridge.close()
    # closed means gone: no rt/arm_sdk reader of this simulator is left to match a writer (a wait set's condition
    # kept one alive until a garbage collection, and later tests saw "a robot reading rt/arm_sdk")
    from dit4dit_ros.g1.dds import LowCmdWriter

    probe = LowCmdWriter("rt/arm_sdk")  # same process, same participant: a reader left would match at once
    try:
        assert probe.matched_readers() == 0
    finally:
        probe.close()
