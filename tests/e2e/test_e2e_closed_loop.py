"""End to end: the whole graph (`dit4dit run`) closed loop on the MuJoCo G1 with a small model.

`dit4dit run` starts the sim robot, proprioception, policy, monitor and executor as child processes from a
copy of config/g1_sim.yaml (real-time simulation, so that the executor streams on the wall clock like on the
robot). This test process watches from outside, like an operator: ROS topics for chunks and executor state,
and the Unitree DDS wire (rt/arm_sdk commands, rt/lowstate) with its own readers. Then it presses the e-stop.
"""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.bringup.processes import start_run, stop_run
from dit4dit_ros.g1.joints import RIGHT_ARM, joint_indices, limits_array
from dit4dit_ros.data.topics import SIM_TASK_TOPIC
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
from dit4dit_ros.nodes.status_msgs import executor_state, task_status_from_msg, values_of
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.realtime import realtime_available
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]
INSTRUCTION = "touch the red cube with the right hand"
POLICY_RATE = 3.0
ARM_SDK_SLOTS = np.arange(12, 29)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from dit4dit_ros.model.checkpoint import save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.text_encoder import embed_prompts

    torch.manual_seed(0)
    cfg = load_preset("tiny")
    cache = embed_prompts("tiny-random:0", [INSTRUCTION], max_length=cfg.video.prompt_max_length)
    root = tmp_path_factory.mktemp("e2e_ckpt")
    save_checkpoint(root, DiT4DiT(cfg), NormalizationStats.for_layout(cfg.layout), cache)
    return root


def realtime_sim_config(repo_root: str, out: Path) -> Path:
    """config/g1_sim.yaml with a real-time (not lock-stepped) simulator and a small, cheap camera image."""
    from dit4dit_ros.bringup.graph import load_parameter_yaml
    from dit4dit_ros.bringup.profiles import realtime_sim, write_parameter_yaml

    data = realtime_sim(load_parameter_yaml(Path(repo_root, "config", "g1_sim.yaml")), policy_rate_hz=POLICY_RATE)
    # The untrained tiny checkpoint commands arbitrary poses, e.g. a shoulder into the torso: the no-effect
    # interlock rightly damps a blocked arm after 1 s. This test is about the loop and the e-stop; that interlock
    # has its own tests (tests/nodes/test_executor_unitree_sim.py, `dit4dit bench safety` no-effect).
    data["executor"]["ros__parameters"]["no_effect_timeout"] = 0.0
    return write_parameter_yaml(data, out / "g1_sim_realtime.yaml")


class Wire:
    """Every command on the robot's control paths and the newest joint positions on rt/lowstate, as the robot sees
    them. Commands are taken from a deep reader history by safety/wire.py's RobotWire: a Python listener with the
    default KEEP_LAST 1 history lost commands whenever this busy test process fell behind (ci4 of session 5:
    "390 of 491 commands/s reached the robot", counted by the test's own reader, not by the robot)."""

    def __init__(self) -> None:
        from dit4dit_ros.g1.dds import LowStateReader, init_unitree_dds
        from dit4dit_ros.safety.wire import RobotWire

        init_unitree_dds()
        self.lock = threading.Lock()
        self.q_first: np.ndarray | None = None
        self.q_last: np.ndarray | None = None
        self.robot_wire = RobotWire()
        self.state_reader = LowStateReader(self._on_state)

    def _on_state(self, sample) -> None:
        if sample.crc_ok:
            with self.lock:
                if self.q_first is None:
                    self.q_first = sample.q.copy()
                self.q_last = sample.q.copy()

    def snapshot(self) -> list:
        return self.robot_wire.snapshot()

    def close(self) -> None:
        self.robot_wire.close()
        self.state_reader.close()


def test_closed_loop_on_the_simulated_g1_with_estop(repo_root, tmp_path, tiny_checkpoint):
    config = realtime_sim_config(repo_root, tmp_path)
    run = start_run(config, "--checkpoint", str(tiny_checkpoint), "--instruction", INSTRUCTION, "--enable",
                    "--duration", "150", "--no-status", "--log-dir", str(tmp_path / "logs"), stdout=subprocess.PIPE)
    wire = None
    try:
        with RosHarness() as ros:
            chunks = ros.collect(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
            states = ros.collect(DiagnosticStatus, "/dit4dit/executor/state", SENSOR_DATA)
            policy_states = ros.collect(DiagnosticStatus, "/dit4dit/policy/state", COMMANDS)
            sent = ros.collect(JointState, "/dit4dit/executor/command", SENSOR_DATA)
            tasks = ros.collect(DiagnosticStatus, SIM_TASK_TOPIC, LATCHED)

            def robot_received() -> int:
                """rt/arm_sdk commands the simulated robot has received (its own counter, in its task status)."""
                snap = tasks.snapshot()
                return int(task_status_from_msg(snap[-1][1]).robot_counters["arm_sdk_received"]) if snap else 0

            def latest_state() -> dict:
                snap = states.snapshot()
                return executor_state(snap[-1][1]) if snap else {}

            wire = Wire()
            wait_until(lambda: run.poll() is not None or latest_state().get("mode") == "RUNNING", 120,
                       poll=0.2, what="the executor RUNNING under `dit4dit run`")
            assert run.poll() is None, run.stdout.read().decode(errors="replace")[-3000:]
            # the simulated robot stands in for the robot's own computer: its physics + LowState loop is real time
            # where this machine permits it (bringup/profiles.py realtime_sim), so busy processes beside the suite
            # cannot pause its state stream into the executor's LowState watchdog
            if realtime_available(70)[0]:
                assert "real time granted (SCHED_FIFO:70" in (tmp_path / "logs" / "sim_robot.log").read_text()
            wait_until(lambda: len(chunks) >= 1, 60, poll=0.1, what="the first action chunk")

            # Steady closed loop: measure over a fixed window.
            window = 8.0
            produced0 = int(values_of(policy_states.snapshot()[-1][1])["chunks"])
            n_chunks0, n_cmds0, t0 = len(chunks), len(wire.snapshot()), time.monotonic()
            received0 = robot_received()
            state0 = latest_state()
            sent0, ticks0 = state0["commands_sent"], state0["tick"]["ticks"]
            wait_until(lambda: time.monotonic() - t0 >= window, window + 5, poll=0.1, what="the measurement window")
            elapsed = time.monotonic() - t0
            chunk_rate = (len(chunks) - n_chunks0) / elapsed
            cmd_rate = (len(wire.snapshot()) - n_cmds0) / elapsed
            robot_rate = (robot_received() - received0) / elapsed
            state = latest_state()
            print(f"closed loop: chunks {chunk_rate:.2f} Hz (target {POLICY_RATE}), commands on the wire "
                  f"{cmd_rate:.0f} Hz, executor tick {state.get('tick')}")
            policy = values_of(policy_states.snapshot()[-1][1])
            print(f"policy inference {policy['inference_ms']:.0f} ms (the chunk rate is a `dit4dit bench loop` figure)")
            # the loop is alive and every chunk the policy produced in the window reached the graph (the policy's
            # state is published right after each chunk: at most one in flight between the two counts)
            produced = int(policy["chunks"]) - produced0
            assert produced >= 2, f"the policy produced {produced} chunks in {elapsed:.1f} s"
            assert abs((len(chunks) - n_chunks0) - produced) <= 1, (len(chunks) - n_chunks0, produced)
            sent_rate = (state["commands_sent"] - sent0) / elapsed  # the executor's own count over the window
            # every control tick while enabled writes exactly one command (the rate itself, 500 Hz on an idle
            # machine, is a figure of `dit4dit bench loop`: a starved host skips ticks rather than bursting)
            assert state["commands_sent"] - sent0 == state["tick"]["ticks"] - ticks0 > 0, (state0, state)
            print(f"executor: {sent_rate:.0f} commands/s, {100 * state['tick']['late_share']:.1f} % of ticks late by > 1 ms")
            # Counted by the robot itself (the simulator's rt/arm_sdk counter): this test's own reader, at normal
            # priority in a busy process, saw 375-384 of 421-495 commands/s (ci4 and two runs after it); what the
            # robot receives is the property; the test reader's count is printed as a figure.
            print(f"commands/s: executor {sent_rate:.0f}, robot {robot_rate:.0f}, this test's reader {cmd_rate:.0f}")
            assert robot_rate >= 0.8 * sent_rate, f"{robot_rate:.0f} of {sent_rate:.0f} commands/s reached the robot"
            assert state["mode"] in ("RUNNING", "HOLD"), state
            # The commands sent are also published for the recorder (the dataset's action stream): in order, each
            # one within the joint limits the safety filter enforces. Its rate (100 Hz from a thread of the node)
            # is a figure: beside 2 busy processes this test received 14.8/s, and a wall-clock rate is not what
            # the node guarantees on a starved host.
            recorded = [m for _, m in sent.snapshot()]
            print(f"command stream for the recorder: {len(recorded) / elapsed:.0f} messages/s over the run")
            assert len(recorded) >= 2, f"{len(recorded)} command messages"
            stamps = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in recorded]
            assert all(b >= a for a, b in zip(stamps, stamps[1:])), "command messages out of order"
            names = list(recorded[-1].name)
            assert set(RIGHT_ARM) <= set(names) and len(names) == len(recorded[-1].position)
            lo_n, hi_n = limits_array("position_min", names), limits_array("position_max", names)
            outside = [m for m in recorded if list(m.name) != names
                       or np.any(np.asarray(m.position) < lo_n - 1e-9) or np.any(np.asarray(m.position) > hi_n + 1e-9)]
            assert not outside, f"{len(outside)} recorded commands outside the joint limits or with other names"

            # RViz (config/dit4dit.rviz) would find every display's topic in this graph, with its type.
            from dit4dit_ros.monitor.rviz_config import display_topics
            from dit4dit_ros.paths import config_file

            wanted = display_topics(config_file("dit4dit.rviz"))

            def missing() -> list:
                offered = dict(ros.probe.get_topic_names_and_types())
                return [(d.display, d.topic, d.msg_type, offered.get(d.topic)) for d in wanted
                        if d.msg_type not in offered.get(d.topic, [])]
            wait_until(lambda: not missing(), 20, poll=0.5, what=f"the RViz displays' topics: {missing()}")
            assert {"/robot_description", "/tf", "/tf_static", "/dit4dit/markers"} <= {d.topic for d in wanted}

            # Every command that reached the robot is well-formed and within the joint limits.
            cmds = wire.snapshot()
            lo, hi = limits_array("position_min"), limits_array("position_max")
            for c in cmds:
                assert c.crc_ok and not c.problems(), c.problems()
                active = ARM_SDK_SLOTS[c.kp[ARM_SDK_SLOTS] > 0]
                assert np.all(c.q[active] >= lo[active] - 1e-9) and np.all(c.q[active] <= hi[active] + 1e-9)
            # The robot moved under the policy's commands.
            arm = joint_indices(RIGHT_ARM)
            assert np.max(np.abs(wire.q_last[arm] - wire.q_first[arm])) > 0.02

            # E-stop in the middle of the run: damping goes out in the very tick that latches it.
            pub = ros.probe.create_publisher(Bool, "/dit4dit/estop", COMMANDS)
            # both ends matched: the executor's volatile reader drops a message sent before it matched this writer
            # (DDS matches the two ends separately; the e-stop published right after this writer's own match was
            # lost once in a CI run, "timed out 10 s waiting for the executor in ESTOP")
            wait_until(lambda: pub.get_subscription_count() > 0 and latest_state().get("estop_publishers", 0) >= 1,
                       10, what="the executor's e-stop reader matched with this publisher")
            n_before = len(wire.snapshot())
            pub.publish(Bool(data=True))
            wait_until(lambda: latest_state().get("mode") == "ESTOP"
                       and latest_state().get("estop_first_damping_sent_at") is not None,
                       10, poll=0.05, what="the executor in ESTOP")
            state = latest_state()
            latency = state["estop_first_damping_sent_at"] - state["estop_latched_at"]
            print(f"e-stop: latched -> first damping command written {latency * 1e3:.2f} ms")
            # in control ticks: the tick that latched the e-stop wrote the first damping command
            assert state["estop_first_damping_tick"] == state["estop_latched_tick"] is not None, state
            assert latency >= 0.0
            # this process's DDS listener may still be delivering commands written before the e-stop (it shares
            # the CPU with the graph): wait for the first damping command itself, not for a count of commands
            def through_first_damping() -> int | None:  # how many commands up to and including it (truthy)
                after = wire.snapshot()[n_before:]
                return next((i + 1 for i, c in enumerate(after) if np.all(c.kp[ARM_SDK_SLOTS] == 0)), None)

            first = wait_until(through_first_damping, 10, what="the first damping command on the wire after the e-stop") - 1
            wait_until(lambda: len(wire.snapshot()) > n_before + first + 50, 10, what="commands after the e-stop")
            after = wire.snapshot()[n_before:]
            # (no wall-clock bound on its arrival here: this test process's own listener is starved on 2 busy
            # cores and measured 0.35 s; the guarantee is the tick assertion above, the latency in ms is a figure
            # of `dit4dit bench safety` remote-estop and of the print above)
            assert all(np.all(c.kp[ARM_SDK_SLOTS] == 0) and np.all(c.kd[ARM_SDK_SLOTS] > 0) for c in after[first:]), \
                "a non-damping command reached the robot after the e-stop"
            n_recorded = len(sent)
            wait_until(lambda: len(wire.snapshot()) > n_before + 150, 10, what="more damping commands")
            assert len(sent) <= n_recorded + 1  # damping is not a tracking command: nothing more is recorded
    finally:
        if wire is not None:
            wire.close()
        stop_run(run)
    out = run.stdout.read().decode(errors="replace")
    assert "executor enabled" in out, out[-3000:]
    assert "stopped" in out or run.returncode == 0, out[-3000:]
