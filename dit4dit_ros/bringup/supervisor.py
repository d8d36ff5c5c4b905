"""`dit4dit run`: start the graph from one parameter YAML, show a live status line, stop it safely.

Steps: validate the YAML -> choose DDS isolation (a private loopback domain pair for a simulated robot,
the environment's settings for a real one) and refuse a ROS/Unitree domain clash -> publish the instruction
(latched, bringup/instruction.py; a line typed on stdin replaces it) -> start the nodes in order, each waited
for in the ROS graph (bounded) -> optionally enable the executor -> print the status once a second until
Ctrl-C, --duration, or a node dies -> stop: executor first (robot to damping), then the rest.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dit4dit_ros.bringup.graph import check_unitree_domains, graph_from_yaml, load_parameter_yaml
from dit4dit_ros.bringup.processes import GraphProcesses
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


class Supervisor:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.data = load_parameter_yaml(options.config)
        self.nodes = graph_from_yaml(self.data, options.exclude)
        if not self.nodes:
            raise ValueError(f"{options.config} names no node to start")
        self.simulated = any(n.name == "sim_robot" for n in self.nodes)
        if self.simulated and "ROS_DOMAIN_ID" not in os.environ:
            apply_isolation(claim_loopback_isolation())  # a simulated robot never leaves loopback
        check_unitree_domains(self.data, self.nodes)  # ROS and Unitree DDS on one domain break each other
        self.processes = GraphProcesses(options.log_dir)
        self._stop_requested = False
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

        from dit4dit_ros.bringup.graph import node_parameters

        from rclpy.signals import SignalHandlerOptions

        # The supervisor handles SIGINT/SIGTERM itself (stop in order); rclpy's handler would shut the context
        # down under the spin loop (ExternalShutdownException) before the executor was stopped.
        rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
        # Measure on the graph's clock: the simulator's /clock when the nodes run on sim time.
        sim_time = bool(node_parameters(self.data, "dit4dit_supervisor").get("use_sim_time", False))
        node = rclpy.create_node("dit4dit_supervisor", parameter_overrides=[Parameter("use_sim_time", value=sim_time)])
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        from dit4dit_ros.bringup.instruction import DEFAULT_INSTRUCTION_TOPIC, InstructionPublisher

        topic = node_parameters(self.data, "policy").get("instruction_topic", DEFAULT_INSTRUCTION_TOPIC)
        self.instruction = InstructionPublisher(node, topic)
        if self.options.instruction:
            self.instruction.publish(self.options.instruction)  # latched: the policy gets it when it starts
        status = GraphStatus(node, instruction_topic=topic)
        code = 0
        try:
            for spec in self.nodes:
                child = self.processes.start(spec, self.options.config, self.overrides_for(spec.name))
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
                executor.spin_once(timeout_sec=0.1)
                changed = self.instruction.poll_input()
                if changed is not None:
                    print(f"\ninstruction: {changed!r}", flush=True)
                dead = self.processes.dead()
                if dead:
                    for child in dead:
                        print(f"\nnode {child.spec.name} exited with {child.process.returncode}:\n"
                              f"{self.processes.tail(child)}", file=sys.stderr)
                    code = 1
                    break
                if self.options.status and time.monotonic() >= next_print:
                    print("\r" + status.line(), end="", flush=True)
                    next_print += 1.0
            if self.options.status:
                print()
            self.last_status = status
            return code
        finally:
            codes = self.processes.stop_all()
            log.info("stopped: %s", codes)
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()
            signal.signal(signal.SIGINT, previous)

    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True

    def _wait_for_node(self, executor, node, name: str, child) -> bool:
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and not self._stop_requested:
            if not child.alive():
                return False
            if name in node.get_node_names():
                return True
            executor.spin_once(timeout_sec=0.1)
        return False

    def _wait_for_first_chunk(self, executor, status) -> bool:
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and not self._stop_requested and not self.processes.dead():
            if status.chunk_count > 0:
                return True
            executor.spin_once(timeout_sec=0.1)
        return status.chunk_count > 0

    def _enable_executor(self, executor, node, timeout: float = 60.0, attempts: int = 60) -> bool:
        """Call /executor/enable until it succeeds: the executor refuses while it has no robot state or clock."""
        deadline = time.monotonic() + timeout
        for _ in range(attempts):
            if self._stop_requested or time.monotonic() > deadline:
                break
            if self._call_trigger(executor, node, "/executor/enable", quiet=True):
                print("executor enabled", flush=True)
                return True
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.1)
        print(f"could not enable the executor within {timeout:.0f} s: {self.last_trigger_message}", file=sys.stderr)
        return False

    def _call_trigger(self, executor, node, service: str, timeout: float = 10.0, quiet: bool = False) -> bool:
        from std_srvs.srv import Trigger

        client = node.create_client(Trigger, service)
        if not client.wait_for_service(timeout_sec=timeout):
            print(f"service {service} not available after {timeout} s", file=sys.stderr)
            return False
        future = client.call_async(Trigger.Request())
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        result = future.result()
        ok = bool(result and result.success)
        self.last_trigger_message = result.message if result else "(no reply)"
        if not quiet:
            print(f"{service}: {'ok' if ok else 'FAILED'} {self.last_trigger_message}", flush=True)
        return ok
