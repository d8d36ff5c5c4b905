"""Supervision of the real graph (`dit4dit run` on the simulated G1): kill -9 and SIGSTOP of the supervisor and of
each node, judged on the robot's side of the Unitree DDS wire.

- The supervisor dies or hangs: every node shuts down by itself through its own shutdown path; the executor's
  damping reaches the robot, no tracking command after it, then silence (before: 4,199 commands in 40 s).
- An observer node (monitor) dies or hangs: it is restarted, the robot keeps going (before: the whole graph
  stopped and the robot was damped). A node on `hold` stays down and the rest keeps running.
- The executor, the robot's state, the simulator or the policy dies or hangs: reported, the graph stops
  executor first and damping reaches the robot (before: a SIGSTOPped policy was never reported).
- robot_state and the recorder (observers, like monitor) die or hang: restarted, the robot keeps going.
Coverage (kill -9 / SIGSTOP): the supervisor, monitor, robot_state, recorder, g1_state (hold, stop), executor,
sim_robot and policy, each both.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dit4dit_ros.bringup.profiles import write_parameter_yaml
from dit4dit_ros.bringup.trial_graph import TrialGraph, process_alive, trial_parameters, wait_gone
from dit4dit_ros.utils.dds_shm import DEFAULT_MIN_AGE_S, segment_of_process
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]
SIGNALS = {"kill9": signal.SIGKILL, "sigstop": signal.SIGSTOP}
NO_POLICY = ("sim_robot", "g1_state", "monitor", "executor")


def _graph(repo_root: str, tmp_path: Path, drop=("policy",), supervisor=None, args=(), extra=None) -> TrialGraph:
    data = trial_parameters(Path(repo_root, "config", "g1_sim.yaml"), supervisor=supervisor, drop=drop)
    data.update(extra or {})
    config = write_parameter_yaml(data, tmp_path / "params.yaml")
    graph = TrialGraph(config, tmp_path / "logs", args=args).start()
    wait_until(lambda: graph.wire.summary().tracking > 200, 60, poll=0.1, what="the executor streaming")
    return graph


def _assert_damped_then_silent(graph: TrialGraph, since: float) -> None:
    wire = graph.wire
    stopped = wire.wait_damping_then_silence(since, timeout=30.0)
    summary = wire.summary(since)
    executor_log = Path(graph.log_dir, "executor.log")
    received = wire.snapshot(since)
    last = received[-1].receive_time - since if received else float("nan")
    assert summary.damping > 0, (f"no damping reached the robot after {since}: {summary}, the last {last:.2f} s after "
                                 f"it\n{graph.output()[-2000:]}\nexecutor.log:\n"
                                 f"{executor_log.read_text(errors='replace')[-1500:] if executor_log.exists() else ''}")
    assert wire.tracking_after_damping(since) == 0, summary
    assert summary.unsafe == 0, summary
    assert stopped, f"the command stream did not stop within 30 s: {summary}"


@pytest.mark.parametrize("how", list(SIGNALS))
def test_nodes_shut_down_to_safety_when_the_supervisor_dies_or_hangs(repo_root, tmp_path, how):
    graph = _graph(repo_root, tmp_path)
    try:
        nodes = graph.wait_for_nodes(set(NO_POLICY))
        t_attack = time.monotonic()
        os.kill(graph.run.pid, SIGNALS[how])
        elapsed = wait_gone(nodes, 30)
        print(f"supervisor {how}: every node gone after {elapsed:.2f} s; {graph.wire.summary(t_attack)}")
        _assert_damped_then_silent(graph, t_attack)
        n = graph.wire.count()
        assert graph.wire.quiet_for(1.0) and graph.wire.count() == n
        if how == "kill9":  # the kernel's parent-death SIGTERM may end a node before its watcher logs anything
            assert elapsed < 10.0
        else:  # noticed by every node after supervisor_timeout_s (3 s) of silence
            for name in NO_POLICY:
                assert "hung or stopped" in Path(graph.log_dir, f"{name}.log").read_text(errors="replace"), name
    finally:
        graph.close()


def test_observers_restart_a_hold_node_stays_down_and_the_robot_keeps_going(repo_root, tmp_path):
    graph = _graph(repo_root, tmp_path, supervisor={"on_failure.g1_state": "hold"})
    try:
        t0 = time.monotonic()
        first = graph.wait_for_nodes(set(NO_POLICY))
        graph.signal_node("monitor", signal.SIGKILL)
        second = wait_until(lambda: (lambda n: n if n.get("monitor") not in (None, first["monitor"]) else None)(graph.nodes()),
                            60, poll=0.1, what="a new monitor process")
        graph.wait_for_node_running("monitor", second["monitor"])  # stopped before it ran, it is still "starting"
        graph.signal_node("monitor", signal.SIGSTOP)
        wait_until(lambda: graph.nodes().get("monitor") not in (None, second["monitor"]), 60, poll=0.1,
                   what="the hung monitor replaced")
        assert not process_alive(second["monitor"])  # the stopped one was continued, interrupted or killed
        graph.signal_node("g1_state", signal.SIGSTOP)
        wait_until(lambda: "node g1_state hung" in graph.output(), 30, poll=0.1, what="the hung g1_state reported")
        n = graph.wire.count()
        wait_until(lambda: graph.wire.count() > n + 500, 30, poll=0.1, what="commands after the failures")
        out = graph.output()
        assert "node monitor exited: killed by signal 9; on_failure restart: restarting it (1 of 3)" in out, out
        assert "node monitor hung: no heartbeat" in out and "restarting it (2 of 3)" in out, out
        assert "on_failure hold: hold, it stays down" in out, out
        summary = graph.wire.summary(t0)
        assert summary.damping == 0 and summary.unsafe == 0, summary  # the robot kept going throughout
        assert graph.run.poll() is None

        nodes = graph.nodes()
        # Only nodes that move images join ROS over shared memory (a stopped reader there stalls its writers)
        assert segment_of_process(nodes["executor"]) is None and segment_of_process(nodes["monitor"]) is None
        # the killed node's 16 MB DDS segment stays in /dev/shm until the supervisor removes it at the end (it
        # takes segments older than DEFAULT_MIN_AGE_S: a younger one may belong to a process still starting)
        segment = segment_of_process(nodes["sim_robot"])
        assert segment is not None and segment.exists()
        lock = segment.with_name(segment.name + "_el")
        wait_until(lambda: time.time() - lock.stat().st_mtime >= DEFAULT_MIN_AGE_S, 30, poll=0.1,
                   what="the simulated robot's DDS segment old enough to be taken for a zombie")
        t_kill = time.monotonic()
        graph.signal_node("sim_robot", signal.SIGKILL)
        assert graph.wait_for_exit(60) == 1
        assert "node sim_robot exited: killed by signal 9; on_failure stop: stopping the graph" in graph.output()
        wait_gone(nodes, 30)
        assert not segment.exists() and not lock.exists()
        # The graph stops executor first: it damps, never tracks again, then the stream stops.
        _assert_damped_then_silent(graph, t_kill)
    finally:
        graph.close()


def test_robot_state_and_recorder_restart_after_kill9_and_sigstop_and_the_robot_keeps_going(repo_root, tmp_path):
    recorder = {"recorder": {"ros__parameters": {"output_dir": str(tmp_path / "episodes")}}}
    graph = _graph(repo_root, tmp_path, extra=recorder)
    try:
        t0 = time.monotonic()
        first = graph.wait_for_nodes(set(NO_POLICY) | {"robot_state", "recorder"})
        for name in ("robot_state", "recorder"):
            graph.signal_node(name, signal.SIGKILL)
            second = wait_until(lambda: (lambda n: n if n.get(name) not in (None, first[name]) else None)(
                graph.nodes()), 60, poll=0.1, what=f"a new {name} process")
            graph.wait_for_node_running(name, second[name])
            graph.signal_node(name, signal.SIGSTOP)
            wait_until(lambda: graph.nodes().get(name) not in (None, second[name]), 60, poll=0.1,
                       what=f"the hung {name} replaced")
        n = graph.wire.count()
        wait_until(lambda: graph.wire.count() > n + 500, 30, poll=0.1, what="commands after the failures")
        out = graph.output()
        for name in ("robot_state", "recorder"):
            assert f"node {name} exited: killed by signal 9; on_failure restart" in out, out
            assert f"node {name} hung: no heartbeat" in out, out
        summary = graph.wire.summary(t0)
        assert summary.damping == 0 and summary.unsafe == 0, summary
        assert graph.run.poll() is None
    finally:
        graph.close()


@pytest.mark.parametrize("node,how", [("executor", "sigstop"), ("g1_state", "kill9"), ("sim_robot", "sigstop"),
                                      ("sim_robot", "kill9")])
def test_a_critical_node_failure_stops_the_graph_executor_first(repo_root, tmp_path, node, how):
    graph = _graph(repo_root, tmp_path)
    try:
        nodes = graph.wait_for_nodes(set(NO_POLICY))
        t_attack = time.monotonic()
        graph.signal_node(node, SIGNALS[how])
        assert graph.wait_for_exit(60) == 1
        kind = "hung: no heartbeat" if how == "sigstop" else "exited: killed by signal 9"
        assert f"node {node} {kind}" in graph.output() and "on_failure stop" in graph.output(), graph.output()
        wait_gone(nodes, 30)
        _assert_damped_then_silent(graph, t_attack)
    finally:
        graph.close()


@pytest.mark.parametrize("how", list(SIGNALS))
def test_a_hung_or_killed_policy_is_reported_and_the_robot_damped(repo_root, tmp_path, how):
    from dit4dit_ros.bringup.bench_loop import make_random_checkpoint
    from dit4dit_ros.sim.tasks import make_task

    instruction = make_task("reach").instruction
    checkpoint = make_random_checkpoint("tiny", instruction, tmp_path / "ckpt")
    graph = _graph(repo_root, tmp_path, drop=(), args=("--checkpoint", str(checkpoint), "--instruction", instruction))
    try:
        nodes = graph.wait_for_nodes(set(NO_POLICY) | {"policy"})
        t_attack = time.monotonic()
        graph.signal_node("policy", SIGNALS[how])
        assert graph.wait_for_exit(60) == 1
        kind = "hung: no heartbeat" if how == "sigstop" else "exited: killed by signal 9"
        assert f"node policy {kind}" in graph.output() and "on_failure stop" in graph.output(), graph.output()
        wait_gone(nodes, 30)
        _assert_damped_then_silent(graph, t_attack)
    finally:
        graph.close()
