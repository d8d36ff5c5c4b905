"""Start and stop the graph's nodes as child processes, in a safe order.

Each node runs in its own process (true parallelism on few cores: the 500 Hz executor thread never waits
for the policy's Python). Children get their own process session so that a Ctrl-C in the terminal reaches
only this supervisor, which then stops them in order: the executor first (it puts the robot into damping
before it exits), then the others in reverse start order; whatever does not exit in time is killed.
Because a separate session also means that nothing tells a child when this supervisor dies, each child gets a
lifeline (dit4dit_ros/supervision/lifeline.py): both sides beat, both notice the other's death or hang.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dit4dit_ros.bringup.graph import NodeSpec
from dit4dit_ros.supervision.lifeline import ChildLink, LifelineTiming

log = logging.getLogger(__name__)


def ros_value(value) -> str:
    """A parameter value in the `-p name:=value` YAML syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and not any(c in value for c in " :#[]{},'\"") else repr(value)
    return str(value)


def node_command(spec: NodeSpec, params_file: Path, overrides: dict | None = None) -> list[str]:
    cmd = [sys.executable, "-m", spec.module, "--ros-args", "--params-file", str(params_file),
           "-r", f"__node:={spec.name}"]
    if os.environ.get("ROS_SECURITY_ENABLE", "").lower() == "true":  # SROS2: each node in its own enclave
        from dit4dit_ros.security.policy import ENCLAVE_ROOT

        cmd += ["--enclave", f"{ENCLAVE_ROOT}/{spec.name}"]
    # With a params file, rclpy applies a `-p` override only in the node-qualified form `-p node:name:=v`.
    for key, value in (overrides or {}).items():
        cmd += ["-p", f"{spec.name}:{key}:={ros_value(value)}"]
    return cmd


@dataclass
class ChildNode:
    spec: NodeSpec
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    link: ChildLink | None = None  # None: started without a lifeline
    restarts: int = 0
    abandoned: bool = False  # left down on purpose (on_failure hold, or its restart limit reached)
    running_reported: bool = False  # a restarted node's first heartbeat was reported

    def alive(self) -> bool:
        return self.process.poll() is None


class GraphProcesses:
    """The running child processes of one graph."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, lifeline: LifelineTiming | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ if env is None else env)
        self.lifeline = lifeline
        self.children: list[ChildNode] = []
        self._lock = threading.Lock()  # children's lifelines are beaten from the heartbeat thread

    def start(self, spec: NodeSpec, params_file: Path, overrides: dict | None = None) -> ChildNode:
        log_path = self.log_dir / f"{spec.name}.log"
        link = ChildLink(self.lifeline) if self.lifeline is not None else None
        env = dict(self.env, **link.child_environment()) if link else self.env
        out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(
                node_command(spec, params_file, overrides), stdout=out, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, pass_fds=(link.child_fd(),) if link else (),
            )
        except BaseException:
            if link:
                link.close()
            raise
        finally:
            out.close()  # the child holds its own descriptor
        if link:
            link.spawned()
        if spec.nice:
            # Set right after the spawn, before the interpreter starts its threads, which inherit it.
            try:
                os.setpriority(os.PRIO_PROCESS, proc.pid, spec.nice)
            except OSError as exc:  # not root / no CAP_SYS_NICE: runs at normal priority
                log.info("could not give %s priority %d (%s); it runs at normal priority", spec.name, spec.nice, exc)
        child = ChildNode(spec, proc, log_path, link=link)
        with self._lock:
            self.children.append(child)
        log.info("started %s (pid %d, log %s)", spec.name, proc.pid, log_path)
        return child

    def restart(self, child: ChildNode, params_file: Path, overrides: dict | None = None, grace: float = 5.0) -> ChildNode:
        """Stop `child` (if it still runs: a hung one is continued, interrupted, then killed) and start its node
        again in its place in the stop order."""
        self._stop_one(child, grace)
        with self._lock:
            index = self.children.index(child)
            self.children.remove(child)
        new = self.start(child.spec, params_file, overrides)
        with self._lock:
            self.children.remove(new)
            self.children.insert(index, new)
        new.restarts = child.restarts + 1
        return new

    def abandon(self, child: ChildNode, grace: float = 5.0) -> None:
        """Leave `child` down: stop it if it still runs, and stop watching it."""
        self._stop_one(child, grace)
        child.abandoned = True

    def beat_all(self) -> None:
        """One heartbeat to every child (from the supervisor's heartbeat thread)."""
        with self._lock:
            links = [c.link for c in self.children if c.link is not None]
        for link in links:
            link.beat()

    def dead(self) -> list[ChildNode]:
        return [c for c in self.children if not c.alive()]

    def stop_all(self, executor_name: str = "executor", grace: float = 5.0) -> dict[str, int | None]:
        """Stop every child; the executor first. Returns each node's exit code (None if it had to be killed)."""
        order = [c for c in self.children if c.spec.name == executor_name]
        order += [c for c in reversed(self.children) if c.spec.name != executor_name]
        codes: dict[str, int | None] = {}
        for child in order:
            codes[child.spec.name] = self._stop_one(child, grace)
        with self._lock:
            self.children.clear()
        return codes

    @staticmethod
    def _stop_one(child: ChildNode, grace: float) -> int | None:
        proc = child.process
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                # A stopped (SIGSTOP) node holds the SIGINT pending until it runs again: let it run, so that it
                # takes its own shutdown path (the executor damps) instead of being killed.
                proc.send_signal(signal.SIGCONT)
                try:
                    return proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    log.warning("%s (pid %d) did not stop in %.1f s after SIGINT; killing it", child.spec.name, proc.pid, grace)
                    proc.kill()
                    proc.wait(timeout=5.0)
                    return None
            return proc.returncode
        finally:
            if child.link is not None:
                child.link.close()

    def tail(self, child: ChildNode, lines: int = 20) -> str:
        try:
            return "\n".join(child.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_run(config: Path, *args: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """`dit4dit run --config CONFIG ARGS...` as a child in its own session (benches, evaluations, tests).

    The graph ends with this process (`--with-parent`: the kernel's parent-death signal), so a killed evaluation
    leaves no simulated robot, policy and executor running. Call it from a thread that lives as long as the
    process (the main thread): the signal follows the thread that started the child."""
    return subprocess.Popen([sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(config),
                             "--with-parent", str(os.getpid()), *args],
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT if stdout is not subprocess.DEVNULL else subprocess.DEVNULL,
                            start_new_session=True)


def stop_run(run: subprocess.Popen, grace: float = 30.0) -> int | None:
    """Ctrl-C a `dit4dit run` child (it stops its graph executor-first), killing its process group if it hangs."""
    if run.poll() is None:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("`dit4dit run` (pid %d) did not stop in %.0f s; killing its process group", run.pid, grace)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    return run.returncode
