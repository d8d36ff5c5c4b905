"""Start `dit4dit sim-robot` as a child process (for integration tests and demos of other areas).

The child inherits the environment, hence the DDS isolation (utils/dds_env.py), so it talks only to the
caller's domains on loopback. Readiness is not signalled by the process: wait for what you need (LowState
samples, a ROS topic) with utils.waiting.wait_until.

    with SimRobotProcess(["--no-ros", "--duration", "60"]) as sim:
        ...  # rt/lowstate is (soon) being published
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence


class SimRobotProcess:
    """`python -m dit4dit_ros.cli sim-robot ARGS` with its output in a log file; stopped by SIGTERM on exit."""

    def __init__(self, args: Sequence[str] = ("--no-ros",), env: dict[str, str] | None = None,
                 log_path: str | Path | None = None) -> None:
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("MUJOCO_GL", "egl")
        self._own_log = log_path is None
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="sim_robot_", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> "SimRobotProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dit4dit_ros.cli", "sim-robot", *self.args],
                                            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
                return None
        return self.process.returncode

    def __enter__(self) -> "SimRobotProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_log and exc[0] is None:
            self.log_path.unlink(missing_ok=True)
