"""A `dit4dit run` of the simulated G1 to attack from outside: for the supervision tests and `dit4dit bench safety`.

The graph runs as a user starts it (`dit4dit run` in its own session, output to a file); the caller watches the
robot's side of the Unitree DDS wire (safety/wire.py) and the node processes (/proc), and sends signals to the
supervisor or to any node, like the issue's trials did by hand.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dit4dit_ros.bringup.bench_loop import child_nodes
from dit4dit_ros.utils.waiting import wait_until


def trial_parameters(repo_config: Path, executor: dict | None = None, supervisor: dict | None = None,
                     drop: tuple[str, ...] = ()) -> dict:
    """config/g1_sim.yaml on a real-time simulator, with a patient executor (it holds, it does not damp, while
    no chunk comes: what reaches the robot after an attack is the attack's doing) and quick supervision."""
    from dit4dit_ros.bringup.graph import load_parameter_yaml
    from dit4dit_ros.bringup.profiles import realtime_sim
    from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE

    data = realtime_sim(load_parameter_yaml(repo_config))
    data["executor"]["ros__parameters"].update({"hold_timeout": 600.0, **(executor or {})})
    data[SUPERVISOR_NODE] = {"ros__parameters": {"node_hang_timeout_s": 4.0, "supervisor_timeout_s": 3.0,
                                                 "stop_grace_s": 5.0, **(supervisor or {})}}
    for name in drop:
        data.pop(name, None)
    return data


class TrialGraph:
    """One running graph; `start()` returns once the executor streams tracking commands to the robot."""

    def __init__(self, config: Path, log_dir: Path, args: tuple[str, ...] = ()) -> None:
        self.config, self.log_dir, self.args = Path(config), Path(log_dir), args
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.output_path = self.log_dir / "dit4dit_run.out"
        self.run: subprocess.Popen | None = None
        self.wire: Any = None

    def start(self, timeout: float = 180.0) -> "TrialGraph":
        from dit4dit_ros.safety.wire import RobotWire, is_damping

        self.wire = RobotWire()
        with open(self.output_path, "wb") as out:
            self.run = subprocess.Popen(
                [sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(self.config), "--enable", "--no-status",
                 "--log-dir", str(self.log_dir), *self.args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.run.poll() is not None or any(not is_damping(c) for c in self.wire.snapshot()),
                   timeout, poll=0.1, what="tracking commands on the robot's wire")
        if self.run.poll() is not None:
            raise RuntimeError(f"`dit4dit run` exited with {self.run.returncode}:\n{self.output()[-3000:]}")
        return self

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def nodes(self) -> dict[str, int]:
        """{node name: pid} of the supervisor's current children."""
        return child_nodes(self.run.pid)

    def wait_for_nodes(self, names: set[str], timeout: float = 60.0) -> dict[str, int]:
        return wait_until(lambda: (lambda n: n if names <= set(n) else None)(self.nodes()), timeout, poll=0.1,
                          what=f"nodes {sorted(names)} running under the supervisor")

    def wait_for_node_running(self, name: str, pid: int, timeout: float = 60.0) -> None:
        """A restarted node's event loop runs (the supervisor reported its first heartbeat)."""
        wait_until(lambda: f"node {name} is back (pid {pid})" in self.output(), timeout, poll=0.1,
                   what=f"the restarted {name} (pid {pid}) running")

    def signal_node(self, name: str, sig: int) -> int:
        pid = self.nodes()[name]
        os.kill(pid, sig)
        return pid

    def wait_for_exit(self, timeout: float) -> int:
        return wait_until(lambda: self.run.poll() is not None, timeout, poll=0.1,
                          what="`dit4dit run` to exit") and self.run.returncode

    def close(self) -> None:
        """Stop whatever is left: the supervisor (continued if stopped, then Ctrl-C, then killed) and any of
        its former children that outlived it."""
        leftovers = []
        if self.run is not None:
            leftovers = list(self.nodes().values())
            if self.run.poll() is None:
                os.kill(self.run.pid, signal.SIGCONT)
                self.run.send_signal(signal.SIGINT)
                try:
                    self.run.wait(60)
                except subprocess.TimeoutExpired:
                    self.run.kill()
                    self.run.wait(10)
        for pid in leftovers:
            if process_alive(pid):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        if self.wire is not None:
            self.wire.close()
            self.wire = None


def process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: dict[str, int], timeout: float) -> float:
    """Seconds until every process in `pids` has exited (WaitTimeout naming the survivors otherwise)."""
    t0 = time.monotonic()
    wait_until(lambda: not any(process_alive(p) for p in pids.values()), timeout, poll=0.05,
               what=f"processes to exit: {[n for n, p in pids.items() if process_alive(p)]}")
    return time.monotonic() - t0
