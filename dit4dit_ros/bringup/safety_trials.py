"""The trials of issue 19, replayed against the real stack: each sends one hostile or careless input and reports
what reached the robot (the Unitree DDS wire), pass or fail. `dit4dit bench safety` prints one line per trial.

A trial is a `Trial(name, input, run)`; `run(ctx)` returns a `TrialOutcome`. Trials that attack a running
graph get it from `ctx.graph(...)` (a `dit4dit run` of the simulated G1 started for that trial and stopped
after it). The executor's interlock trials live in bringup/interlock_trials.py; TRIALS joins both tables.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from dit4dit_ros.bringup.interlock_trials import INTERLOCK_TRIALS
from dit4dit_ros.bringup.trial_base import Trial, TrialContext, TrialOutcome
from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC
from dit4dit_ros.utils.waiting import wait_until


def _damped_and_silent(graph, since: float) -> TrialOutcome:
    graph.wire.wait_damping_then_silence(since, timeout=30.0)  # the verdict below says what did not happen
    summary = graph.wire.summary(since)
    late = graph.wire.tracking_after_damping(since)
    ok = summary.damping > 0 and late == 0 and summary.unsafe == 0
    return TrialOutcome(f"{summary}; {late} tracking after damping; then silence", ok)


def kill_supervisor(sig: int) -> Callable[[TrialContext], TrialOutcome]:
    def run(ctx: TrialContext) -> TrialOutcome:
        from dit4dit_ros.bringup.trial_graph import wait_gone

        graph = ctx.graph(f"supervisor_{sig}")
        try:
            nodes = graph.wait_for_nodes({"sim_robot", "g1_state", "monitor", "executor"})
            t0 = time.monotonic()
            os.kill(graph.run.pid, sig)
            gone = wait_gone(nodes, 30)
            outcome = _damped_and_silent(graph, t0)
            return TrialOutcome(outcome.reached_robot, outcome.passed, f"all {len(nodes)} nodes exited in {gone:.1f} s")
        finally:
            graph.close()
    return run


def ragged_chunk_to_monitor(ctx: TrialContext) -> TrialOutcome:
    """One chunk with a ragged point on /dit4dit/action_chunk, then a kill -9 of the monitor."""
    import numpy as np
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from dit4dit_ros.g1.joints import RIGHT_ARM
    from dit4dit_ros.nodes.qos import COMMANDS
    from dit4dit_ros.nodes.probe import RosHarness

    graph = ctx.graph("ragged_chunk")
    try:
        t0 = time.monotonic()
        first = graph.wait_for_nodes({"monitor"})["monitor"]
        with RosHarness() as ros:
            pub = ros.probe.create_publisher(JointTrajectory, ACTION_CHUNK_TOPIC, COMMANDS)
            wait_until(lambda: pub.get_subscription_count() >= 2, 30, what="monitor and executor subscribed")
            msg = JointTrajectory(joint_names=list(RIGHT_ARM))
            msg.header.stamp = ros.probe.get_clock().now().to_msg()
            msg.points = [JointTrajectoryPoint(positions=list(np.zeros(7))), JointTrajectoryPoint(positions=list(np.zeros(9)))]
            pub.publish(msg)
            n = graph.wire.count()
            wait_until(lambda: graph.wire.count() > n + 500, 30, poll=0.1, what="a second of commands")
        monitor_up = graph.nodes().get("monitor") == first
        graph.signal_node("monitor", signal.SIGKILL)
        wait_until(lambda: graph.nodes().get("monitor") not in (None, first), 60, poll=0.1, what="monitor restarted")
        n = graph.wire.count()
        wait_until(lambda: graph.wire.count() > n + 500, 30, poll=0.1, what="a second of commands")
        summary = graph.wire.summary(t0)
        ok = monitor_up and summary.damping == 0 and summary.unsafe == 0 and graph.run.poll() is None
        return TrialOutcome(str(summary), ok, f"monitor {'survived' if monitor_up else 'DIED'} the ragged chunk; "
                            "restarted after kill -9, the robot kept going")
    finally:
        graph.close()


def hung_policy(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.bringup.bench_loop import make_random_checkpoint
    from dit4dit_ros.bringup.trial_graph import wait_gone
    from dit4dit_ros.sim.tasks import make_task

    instruction = make_task("reach").instruction
    checkpoint = make_random_checkpoint("tiny", instruction, ctx.scratch("ckpt"))
    graph = ctx.graph("hung_policy", drop=(), args=("--checkpoint", str(checkpoint), "--instruction", instruction))
    try:
        nodes = graph.wait_for_nodes({"policy", "executor"})
        t0 = time.monotonic()
        graph.signal_node("policy", signal.SIGSTOP)
        code = graph.wait_for_exit(60)
        wait_gone(nodes, 30)
        outcome = _damped_and_silent(graph, t0)
        reported = "node policy hung" in graph.output()
        return TrialOutcome(outcome.reached_robot, outcome.passed and reported and code == 1,
                            "reported by dit4dit run" if reported else "NOT reported")
    finally:
        graph.close()


def yaml_typo(ctx: TrialContext) -> TrialOutcome:
    import yaml

    where = ctx.scratch("yaml_typo")
    data = yaml.safe_load(ctx.config.read_text())
    data["executor"]["ros__parameters"]["max_velocty"] = 3.0
    path = where / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(path), "--duration", "5",
                           "--log-dir", str(where / "logs")], capture_output=True, text=True, timeout=120)
    started = (where / "logs").exists() and any((where / "logs").iterdir())
    named = "node 'executor': unknown parameter 'max_velocty'" in done.stderr
    return TrialOutcome("nothing started" if not started else "NODES STARTED", done.returncode == 2 and named
                        and not started, done.stderr.strip().splitlines()[-1][:160] if done.stderr.strip() else "")


def wide_normalization(ctx: TrialContext) -> TrialOutcome:
    """A checkpoint whose normalization.json maps the action range to +-100 rad, loaded by the policy node."""
    import json

    from dit4dit_ros.bringup.bench_loop import make_random_checkpoint
    from dit4dit_ros.model.checkpoint import NORMALIZATION_FILE

    where = ctx.scratch("wide_normalization")
    checkpoint = make_random_checkpoint("tiny", "reach", where / "ckpt")
    stats = json.loads((checkpoint / NORMALIZATION_FILE).read_text())
    n = len(stats["action"]["min"])
    stats["action"].update(min=[-100.0] * n, max=[100.0] * n)
    (checkpoint / NORMALIZATION_FILE).write_text(json.dumps(stats))
    done = subprocess.run([sys.executable, "-m", "dit4dit_ros.nodes.policy_node", "--ros-args", "-p",
                           f"checkpoint:={checkpoint}"], capture_output=True, text=True, timeout=180)
    out = done.stdout + done.stderr
    refused = done.returncode == 2 and "action normalisation range exceeds the joint limits" in out
    return TrialOutcome("nothing started (policy refused the checkpoint)" if refused else "POLICY STARTED", refused,
                        f"exit {done.returncode}")


def wildcard_sockets(ctx: TrialContext) -> TrialOutcome:
    """The graph started from a plain shell; its ROS sockets bound to a wildcard address are counted."""
    from dit4dit_ros.bringup.bench_loop import node_processes
    from dit4dit_ros.safety.sockets import bound_sockets, cyclone_unicast_ports
    from dit4dit_ros.utils.dds_transport import CYCLONE_MAX_PARTICIPANT_INDEX

    graph = ctx.graph("sockets")
    try:
        nodes = graph.wait_for_nodes({"sim_robot", "g1_state", "monitor", "executor"})
        domain = int(os.environ.get("DIT4DIT_UNITREE_DOMAIN", "0"))
        sockets = bound_sockets([graph.run.pid, *node_processes(nodes)])
        cyclone = cyclone_unicast_ports(domain, CYCLONE_MAX_PARTICIPANT_INDEX)
        ros_wild = [s for s in sockets if s.wildcard and s.port not in cyclone]
        sdk_wild = [s for s in sockets if s.wildcard and s.port in cyclone]
        return TrialOutcome("n/a (sockets)", not ros_wild, f"{len(sockets)} sockets, {len(ros_wild)} ROS on a wildcard, "
                            f"{len(sdk_wild)} CycloneDDS unicast-receive on INADDR_ANY (not configurable)")
    finally:
        graph.close()


def sros2_support(ctx: TrialContext) -> TrialOutcome:
    from dit4dit_ros.security.keystore import create_keystore

    keystore = ctx.scratch("keystore") / "ks"
    create_keystore(keystore)
    env = dict(os.environ, ROS_SECURITY_KEYSTORE=str(keystore), ROS_SECURITY_ENABLE="true", ROS_SECURITY_STRATEGY="Enforce")
    done = subprocess.run([sys.executable, "-c", "import rclpy\nrclpy.init(args=['--ros-args','--enclave','/dit4dit/policy'])\n"
                           "rclpy.create_node('p')\nprint('STARTED')"], capture_output=True, text=True, timeout=60, env=env)
    out = done.stdout + done.stderr
    if "STARTED" in out:
        return TrialOutcome("n/a", True, "this FastDDS has DDS Security: run the graph secured (docs/security.md)")
    closed = "doesn't have the security libraries" in out
    return TrialOutcome("n/a", closed, "FastDDS built without security: a secured node refuses to start (fails closed)"
                        if closed else out.strip()[-160:])


GRAPH_TRIALS: tuple[Trial, ...] = (
    Trial("supervisor-kill9", "kill -9 of `dit4dit run` while the executor streams", kill_supervisor(signal.SIGKILL)),
    Trial("supervisor-sigstop", "SIGSTOP of `dit4dit run` while the executor streams", kill_supervisor(signal.SIGSTOP)),
    Trial("ragged-chunk", "a chunk with one 9-position point, then kill -9 of the monitor", ragged_chunk_to_monitor),
    Trial("hung-policy", "SIGSTOP of the policy node", hung_policy),
    Trial("yaml-typo", "`max_velocty: 3.0` in the executor's section", yaml_typo, slow=False),
    Trial("wide-normalization", "normalization.json with an action range of +-100 rad", wide_normalization),
    Trial("wildcard-sockets", "the graph's bound sockets", wildcard_sockets),
    Trial("sros2", "a node started in an SROS2 enclave with ROS_SECURITY_ENABLE=true", sros2_support, slow=False),
)

TRIALS = GRAPH_TRIALS + INTERLOCK_TRIALS  # the executor's interlocks: no reader, no effect, CRC, remote, authority, clipping


def run_trials(config: Path, names: list[str] | None = None, out=sys.stdout) -> list[tuple[Trial, TrialOutcome]]:
    """Run the chosen trials (all by default), printing one line each; returns the outcomes."""
    chosen = [t for t in TRIALS if not names or t.name in names]
    unknown = set(names or ()) - {t.name for t in TRIALS}
    if unknown:
        raise ValueError(f"unknown trial(s) {sorted(unknown)}; known: {[t.name for t in TRIALS]}")
    results = []
    with tempfile.TemporaryDirectory(prefix="dit4dit_bench_safety_") as tmp:
        ctx = TrialContext(config, Path(tmp))
        for trial in chosen:
            t0 = time.monotonic()
            try:
                outcome = trial.run(ctx)
            except Exception as exc:  # a trial that cannot run is a failed trial, reported with its reason
                outcome = TrialOutcome("unknown", False, f"trial error: {exc!r}"[:300])
            results.append((trial, outcome))
            print(f"{'PASS' if outcome.passed else 'FAIL'}  {trial.name:20s} input: {trial.input} | reached the robot: "
                  f"{outcome.reached_robot} | {outcome.detail} ({time.monotonic() - t0:.0f} s)", file=out, flush=True)
    return results
