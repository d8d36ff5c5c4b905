"""`dit4dit run`: start the graph from one parameter YAML, show a live status line, stop it safely.

Steps: validate the whole YAML (every node's keys, types and ranges, before any process starts) -> choose DDS
isolation (a private loopback domain pair for a simulated robot, the environment's settings for a real one)
and refuse a ROS/Unitree domain clash -> publish the instruction (latched, bringup/instruction.py; a line typed
on stdin replaces it) -> start the nodes together, each on a lifeline to this process, and wait for each in the
ROS graph (bounded) -> optionally enable the executor -> print the status once a second until Ctrl-C, --duration,
or a node failure that stops the graph -> stop: executor first (robot to damping), then the rest.

Supervision (dit4dit_ros/supervision/): a heartbeat thread beats every child's lifeline while this process's
main loop makes progress, so the nodes shut down to their safe state when it dies or hangs; the main loop
reads the children's heartbeats and judges each node alive, exited or hung, and reacts by the node's
`on_failure` (stop the graph, hold, or restart an observer node: a monitor crash no longer damps the robot).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dit4dit_ros.bringup.graph import check_unitree_domains, graph_from_yaml, load_parameter_yaml, node_parameters
from dit4dit_ros.bringup.processes import GraphProcesses
from dit4dit_ros.supervision.health import Failure, blame_stopped, is_stopped, judge
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE, Reaction, SupervisionConfig
from dit4dit_ros.utils.dds_env import apply_isolation, claim_loopback_isolation

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    config: Path
    checkpoint: str | None = None
    instruction: str | None = None
    duration: float | None = None  # seconds; None = until Ctrl-C
    enable: bool = False  # call the executor's enable service once everything is up
    exclude: set[str] = field(default_factory=set)
    overrides: dict[str, dict] = field(default_factory=dict)  # node -> {param: value}
    log_dir: Path = Path("runs/latest/logs")
    start_timeout: float = 120.0
    status: bool = True

    def __post_init__(self) -> None:
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"--duration must be positive, got {self.duration}")


# The heartbeat thread stops beating (the nodes then shut down) when the main loop has made no progress for
# this long: longer than its longest bounded wait (a service call: 10 s to appear + 10 s to answer).
MAIN_LOOP_STALL = 30.0


class Supervisor:
    def __init__(self, options: RunOptions) -> None:
        from dit4dit_ros.bringup.validate import check_deployment_file

        self.options = options
        self.data = load_parameter_yaml(options.config)
        self.nodes = graph_from_yaml(self.data, options.exclude)
        if not self.nodes:
            raise ValueError(f"{options.config} names no node to start")
        # The whole file, including nodes excluded from this run, and the command-line overrides.
        check_deployment_file(options.config, {n.name: self.overrides_for(n.name) for n in self.nodes})
        self.supervision = SupervisionConfig.from_values(node_parameters(self.data, SUPERVISOR_NODE))
        self.simulated = any(n.name == "sim_robot" for n in self.nodes)
        if self.simulated and "ROS_DOMAIN_ID" not in os.environ:
            apply_isolation(claim_loopback_isolation())  # a simulated robot never leaves loopback
        check_unitree_domains(self.data, self.nodes)  # ROS and Unitree DDS on one domain break each other
        self.processes = GraphProcesses(options.log_dir, lifeline=self.supervision.supervisor_timing())
        self._stop_requested = False
        self._progress = time.monotonic()  # the main loop's last sign of life (read by the heartbeat thread)
        self._stopping = False
        self._heartbeat_stop = threading.Event()
        self.failures: list[str] = []  # every node failure reported during the run
        self.last_trigger_message = ""

    def overrides_for(self, name: str) -> dict:
        extra = dict(self.options.overrides.get(name, {}))
        if name == "policy" and self.options.checkpoint:
            extra["checkpoint"] = self.options.checkpoint
        return extra

    def run(self) -> int:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from dit4dit_ros.bringup.status import GraphStatus

        previous = signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        from rclpy.parameter import Parameter
        from rclpy.signals import SignalHandlerOptions

        # Ctrl-C / SIGTERM only ask the loop to stop (handlers above): rclpy's own handlers would shut the context
        # down under the running loop instead of letting it stop the nodes in order.
        from dit4dit_ros.utils.dds_transport import LOOPBACK_ADDRESSES, configure_ros_transport

        # The deployment's ROS transport for this process and every node it starts (they inherit the addresses;
        # each node adds shared memory if it moves images). The supervisor moves none: UDP only.
        configure_ros_transport(node_parameters(self.data, SUPERVISOR_NODE).get("ros_addresses", list(LOOPBACK_ADDRESSES)),
                                shared_memory=False)
        secure = os.environ.get("ROS_SECURITY_ENABLE", "").lower() == "true"
        rclpy.init(args=["--ros-args", "--enclave", "/dit4dit/supervisor"] if secure else [],
                   signal_handler_options=SignalHandlerOptions.NO)
        # Measure on the graph's clock: the simulator's /clock when the nodes run on sim time.
        sim_time = bool(node_parameters(self.data, SUPERVISOR_NODE).get("use_sim_time", False))
        node = rclpy.create_node(SUPERVISOR_NODE, parameter_overrides=[Parameter("use_sim_time", value=sim_time)])
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        from dit4dit_ros.bringup.instruction import DEFAULT_INSTRUCTION_TOPIC, InstructionPublisher

        topic = node_parameters(self.data, "policy").get("instruction_topic", DEFAULT_INSTRUCTION_TOPIC)
        self.instruction = InstructionPublisher(node, topic)
        if self.options.instruction:
            self.instruction.publish(self.options.instruction)  # latched: the policy gets it when it starts
        status = GraphStatus(node, instruction_topic=topic)
        code = 0
        heartbeat = threading.Thread(target=self._heartbeat, name="supervisor-heartbeat", daemon=True)
        heartbeat.start()
        try:
            # All nodes start at once, then each is waited for in the ROS graph: every node waits for its own
            # inputs (the executor is enabled only below, once all are up), and a sequential start spent ~13 s per
            # graph on 2 cores waiting for one node after another.
            children = [(spec, self.processes.start(spec, self.options.config, self.overrides_for(spec.name)))
                        for spec in self.nodes]
            for spec, child in children:
                if not self._wait_for_node(executor, node, spec.name, child):
                    print(f"node {spec.name} did not come up; last log lines:\n{self.processes.tail(child)}", file=sys.stderr)
                    return 1
            if self.options.enable:
                # Never enable the robot before the policy is actually producing chunks: the executor would
                # time out into damping while the model is still loading.
                if any(n.name == "policy" for n in self.nodes) and not self._wait_for_first_chunk(executor, status):
                    print(f"no action chunk within {self.options.start_timeout:.0f} s; not enabling the executor",
                          file=sys.stderr)
                    return 1
                if not self._enable_executor(executor, node):
                    return 1
            print(f"graph up: {', '.join(n.name for n in self.nodes)} (logs in {self.options.log_dir})", flush=True)
            deadline = time.monotonic() + self.options.duration if self.options.duration else None
            next_print = time.monotonic()
            while not self._stop_requested and (deadline is None or time.monotonic() < deadline):
                self._progress = time.monotonic()
                executor.spin_once(timeout_sec=0.1)
                changed = self.instruction.poll_input()
                if changed is not None:
                    print(f"\ninstruction: {changed!r}", flush=True)
                if not self._supervise():
                    code = 1
                    break
                if self.options.status and time.monotonic() >= next_print:
                    print("\r" + status.line() + self._down_text(), end="", flush=True)
                    next_print += 1.0
            if self.options.status:
                print()
            self.last_status = status
            return code
        finally:
            self._stopping = True  # keep beating while the nodes are stopped in order
            codes = self.processes.stop_all(grace=self.supervision.stop_grace_s)
            self._heartbeat_stop.set()
            log.info("stopped: %s", codes)
            # a node killed (hung at stop, or restarted after a hang) leaves its 16 MB DDS segment in /dev/shm
            from dit4dit_ros.utils.dds_shm import remove_zombie_segments

            remove_zombie_segments()
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()
            signal.signal(signal.SIGINT, previous)

    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True

    # -- supervision ----------------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Beat every child's lifeline while the main loop lives (a stalled main loop is a hung supervisor)."""
        period = self.supervision.heartbeat_period_s
        while not self._heartbeat_stop.wait(period):
            if self._stopping or time.monotonic() - self._progress < MAIN_LOOP_STALL:
                self.processes.beat_all()

    def _supervise(self) -> bool:
        """Judge every child; react to failures by its node's on_failure. False: stop the graph."""
        children = [c for c in self.processes.children if not c.abandoned]
        now = time.monotonic()
        for child in children:
            if child.link is not None:
                child.link.poll(now)
                if child.restarts and not child.running_reported and child.link.last_heard is not None:
                    print(f"\nnode {child.spec.name} is back (pid {child.process.pid})", file=sys.stderr, flush=True)
                    child.running_reported = True
        judged = {c.spec.name: judge(c.spec.name, c.process.poll(), c.link.last_heard if c.link else now, c.started,
                                     now, self.supervision.node_hang_timeout_s, self.options.start_timeout)
                  for c in children}
        # /proc is read only when someone is silent: that is when a stopped node may be the cause
        any_hung = any(f is not None and f.kind is Failure.HUNG for f in judged.values())
        stopped = {c.spec.name for c in children if any_hung and c.process.poll() is None and is_stopped(c.process.pid)}
        judged, excused = blame_stopped(judged, stopped)
        for name in sorted(excused):
            print(f"\nnode {name} is silent while {', '.join(sorted(stopped))} is stopped: it may be waiting on it "
                  "(shared-memory DDS); it gets a new hang timeout", file=sys.stderr, flush=True)
        for child in sorted(children, key=lambda c: c.spec.name not in stopped):  # the stopped ones first
            failure = judged[child.spec.name]
            if failure is not None and not self._react(child, failure):
                return False
        for child in children:  # the obstruction is gone: a full hang timeout from now on
            if child.spec.name in excused and child.link is not None:
                child.link.last_heard = time.monotonic()
        return True

    def _react(self, child, failure) -> bool:
        """React to one child's failure by its node's on_failure. False: stop the graph."""
        reaction = self.supervision.reaction(child.spec.name)
        report = f"{failure}; on_failure {reaction.value}"
        self.failures.append(report)
        if reaction is Reaction.STOP:
            print(f"\n{report}: stopping the graph (executor first: the robot goes to damping)\n"
                  f"{self.processes.tail(child)}", file=sys.stderr, flush=True)
            return False
        if reaction is Reaction.RESTART and child.restarts < self.supervision.restart_limit:
            print(f"\n{report}: restarting it ({child.restarts + 1} of {self.supervision.restart_limit}); "
                  f"the robot keeps going\n{self.processes.tail(child)}", file=sys.stderr, flush=True)
            self.processes.restart(child, self.options.config, self.overrides_for(child.spec.name),
                                   grace=self.supervision.stop_grace_s)
            return True
        why = "restart limit reached" if reaction is Reaction.RESTART else "hold"
        print(f"\n{report}: {why}, it stays down; the rest keeps running (the executor holds, then damps, "
              f"when its inputs stop)\n{self.processes.tail(child)}", file=sys.stderr, flush=True)
        self.processes.abandon(child, grace=self.supervision.stop_grace_s)
        return True

    def _down_text(self) -> str:
        down = [c.spec.name for c in self.processes.children if c.abandoned]
        restarted = [f"{c.spec.name} x{c.restarts}" for c in self.processes.children if c.restarts and not c.abandoned]
        parts = ([f"DOWN: {', '.join(down)}"] if down else []) + ([f"restarted: {', '.join(restarted)}"] if restarted else [])
        return ("  " + "  ".join(parts)) if parts else ""

    def _wait_for_node(self, executor, node, name: str, child) -> bool:
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and not self._stop_requested:
            if not child.alive():
                return False
            if name in node.get_node_names():
                return True
            self._progress = time.monotonic()
            executor.spin_once(timeout_sec=0.1)
        return False

    def _wait_for_first_chunk(self, executor, status) -> bool:
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and not self._stop_requested and not self.processes.dead():
            if status.chunk_count > 0:
                return True
            self._progress = time.monotonic()
            executor.spin_once(timeout_sec=0.1)
        return status.chunk_count > 0

    def _enable_executor(self, executor, node, timeout: float = 60.0, attempts: int = 60) -> bool:
        """Call /executor/enable until it succeeds: the executor refuses while it has no robot state or clock."""
        deadline = time.monotonic() + timeout
        for _ in range(attempts):
            if self._stop_requested or time.monotonic() > deadline:
                break
            if self._request_enable(executor, node):
                print("executor enabled", flush=True)
                return True
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                self._progress = time.monotonic()
                executor.spin_once(timeout_sec=0.1)
        print(f"could not enable the executor within {timeout:.0f} s: {self.last_trigger_message}", file=sys.stderr)
        return False

    def _request_enable(self, executor, node) -> bool:
        """Enable with the executor's authority policy: its token (read from the token file it wrote; this
        process runs as the operator) or, under `open`, a plain Trigger. `remote`: only the robot's remote can."""
        from dit4dit_ros.security.authority import default_token_file, read_token

        params = node_parameters(self.data, "executor")
        policy = params.get("authority", "open")
        if policy == "open":
            return self._call_trigger(executor, node, "/executor/enable", quiet=True)
        if policy == "remote":
            self.last_trigger_message = "authority is 'remote': enable with the robot's wireless remote"
            return False
        from diagnostic_msgs.srv import AddDiagnostics

        try:
            token = read_token(params.get("authority_token_file") or default_token_file())
        except ValueError as exc:
            self.last_trigger_message = str(exc)
            return False
        return self._call_trigger(executor, node, "/executor/enable_with_token", quiet=True,
                                  srv=(AddDiagnostics, AddDiagnostics.Request(load_namespace=token)))

    def _call_trigger(self, executor, node, service: str, timeout: float = 10.0, quiet: bool = False,
                      srv=None) -> bool:
        """Call a service whose reply has success and message (std_srvs/Trigger unless `srv` = (type, request))."""
        from std_srvs.srv import Trigger

        srv_type, request = srv or (Trigger, Trigger.Request())
        client = node.create_client(srv_type, service)
        if not client.wait_for_service(timeout_sec=timeout):
            print(f"service {service} not available after {timeout} s", file=sys.stderr)
            return False
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        result = future.result()
        ok = bool(result and result.success)
        self.last_trigger_message = result.message if result else "(no reply)"
        if not quiet:
            print(f"{service}: {'ok' if ok else 'FAILED'} {self.last_trigger_message}", flush=True)
        return ok
