"""The pipe between the sim robot's ROS node and its physics process (sim/core_process.py), node side.

Why two processes: rclpy holds the interpreter lock for the whole of a publish (measured here: a 237 ms publish
stopped another thread of the process for 238 ms), and a FastDDS publish towards a hung subscriber can block for
up to a second. With the physics loop in the ROS node's interpreter, such a publish stopped the simulated robot:
LowState went silent for 1027 ms while simulation time advanced 2 ms, and the executor rightly damped. The
physics, LowState/LowCmd (CycloneDDS) and the cameras now run in a process without rclpy; the node only
converts and publishes what that process sends, and a node that hangs never stops the robot.

Messages are pickled tuples on a socket pair (multiprocessing.connection). Physics process -> node:
    ("ready", {"stand": FrameTransform})               once, after start-up
    ("failed", reason)                                  start-up failed (then it exits with status 2)
    ("clock", sim_time)
    ("frame", image, sim_time) / ("scene", image, sim_time)
    ("task", TaskStatus, robot_status dict, [FrameTransform], sim_time)
    ("reset", request_id, done, TaskStatus | None)      the answer to a reset request
(the physics process logs its own statistics when it stops).
Node -> physics process:
    ("ack", stamp, chunk)   lock-step: the consumer took the frame stamped `stamp` (chunk: by an action chunk)
    ("reset", request_id, seed)
    ("release",)            hold_after_reset: the simulation may go on after the resets done so far
    ("stop",)               end the loop (closing the pipe does the same)
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable, Mapping

LOG = logging.getLogger(__name__)
START_TIMEOUT = 120.0  # wall s for the physics process to build the scene and its DDS entities


class SimCoreError(RuntimeError):
    """The physics process could not start (the reason is its own message)."""


class SimCoreClient:
    """Starts the physics process with the node's parameter values and talks to it.

    `on_message(msg)` is called from this client's reader thread for every clock, frame, scene and task message.
    Start it from the thread that lives as long as the node (the main thread): the process ends when the thread
    that started it ends (utils/process_life.py)."""

    def __init__(self, values: Mapping[str, Any], on_message: Callable[[tuple], None],
                 start_timeout: float = START_TIMEOUT) -> None:
        self.values = dict(values)
        self._on_message = on_message
        self._send_lock = threading.Lock()
        self._reset_lock = threading.Lock()
        self._replies: dict[int, tuple] = {}
        self._reply_ready = threading.Condition()
        self._ids = itertools.count(1)
        self.info: dict = {}
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dit4dit_ros.sim.core_process", "--fd", str(theirs.fileno()),
                 "--parent", str(os.getpid()), "--config", json.dumps(self.values)],
                pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        try:
            self.info = self._await_ready(start_timeout)
        except BaseException:
            self.stop()
            raise
        self._reader = threading.Thread(target=self._read, name="sim-core-reader", daemon=True)
        self._reader.start()

    def _await_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._conn.poll(0.1):
                try:
                    msg = self._conn.recv()
                except EOFError:
                    break
                if msg[0] == "ready":
                    return msg[1]
                if msg[0] == "failed":
                    raise SimCoreError(f"the simulator's physics process cannot start: {msg[1]}")
            elif self.process.poll() is not None:
                break
        code = self.process.poll()
        raise SimCoreError("the simulator's physics process " + (f"exited with status {code} before it was ready"
                           if code is not None else f"was not ready within {timeout:.0f} s"))

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "reset":
                with self._reply_ready:
                    self._replies[msg[1]] = msg[2:]
                    self._reply_ready.notify_all()
            else:
                try:
                    self._on_message(msg)
                except Exception:  # a conversion or publish error: logged, the stream goes on
                    LOG.exception("handling %s from the physics process failed", kind)
        with self._reply_ready:
            self._reply_ready.notify_all()

    def _send(self, msg: tuple) -> bool:
        with self._send_lock:
            try:
                self._conn.send(msg)
                return True
            except (OSError, ValueError):  # the process is gone
                return False

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def acknowledge(self, stamp: float, chunk: bool = False) -> None:
        """Lock-step: the consumer took the frame stamped `stamp` (simulation seconds); `chunk`: by an action chunk."""
        self._send(("ack", float(stamp), bool(chunk)))

    def release(self) -> bool:
        """hold_after_reset: the simulation may go on after the resets done so far."""
        return self._send(("release",))

    def reset(self, seed: int, timeout: float) -> tuple[bool, Any]:
        """Reset to `seed`; (done, the new TaskStatus or None) within `timeout` wall seconds."""
        with self._reset_lock:
            request = next(self._ids)
            if not self._send(("reset", request, int(seed))):
                return False, None
            deadline = time.monotonic() + timeout
            with self._reply_ready:
                while request not in self._replies:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._reader.is_alive():
                        return False, None
                    self._reply_ready.wait(min(left, 0.5))
                done, status = self._replies.pop(request)
            return bool(done), status

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the process to stop, wait `timeout` s, then SIGTERM and SIGKILL. Returns its exit status."""
        self._send(("stop",))
        for action in (None, self.process.terminate, self.process.kill):
            if action is not None:
                action()
            try:
                code = self.process.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                code = None
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join(timeout=2.0)
        self._conn.close()
        return code


__all__ = ["SimCoreClient", "SimCoreError", "START_TIMEOUT"]
