"""The node's side of the real-time process: start it, feed it, watch it, stop it.

`RtClient.start()` makes the shared-memory block, starts `python -m dit4dit_ros.control.rt.process` and waits
until it ticks. Requests (chunks, teleop, enable, ...) go into sequence-numbered slots; chunks and teleop are
not waited for (their verdicts are counted in the core's status and logged), services wait for their reply.
The e-stop is a counter the process reads first thing in every tick. A thread beats the node's heartbeat.
`alive()` says whether the process still ticks; `stop()` asks for the damping ramp and waits for its end.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk
from dit4dit_ros.control.rt import shm as S
from dit4dit_ros.g1.joints import NUM_JOINTS

log = logging.getLogger(__name__)


class RtClient:
    """One real-time executor process for one node (see the module docstring)."""

    def __init__(self, params: dict, isolation: dict, max_points: int, beat_period: float = 0.05) -> None:
        self.params = params
        self.max_points = int(max_points)
        self.block = S.ControlShm.create(self.max_points)
        self._config = json.dumps({"params": params, "isolation": isolation, "max_points": self.max_points})
        self._lock = threading.Lock()
        self._next_id = 1
        self._log_tail = 0
        self._beat_period = beat_period
        self._beat_stop = threading.Event()
        self._beat = threading.Thread(target=self._beat_loop, name="executor-heartbeat", daemon=True)
        self.proc: subprocess.Popen | None = None
        self.tick_period = 1.0 / float(params["tick_rate"])

    # ---------------------------------------------------------------- life cycle
    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it ticks (RuntimeError with its reason if it cannot start)."""
        self.block.header[S.H_NODE_BEAT] = time.monotonic_ns()
        self._beat.start()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dit4dit_ros.control.rt.process", "--shm", self.block.name,
             "--parent", str(os.getpid()), "--config", self._config],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = int(self.block.header[S.H_RT_STATE])
            if state == S.RT_RUNNING:
                return
            if state == S.RT_FAILED or self.proc.poll() is not None:
                reason = self.block.read_status().get("error", f"exit status {self.proc.poll()}")
                self.close()
                raise RuntimeError(f"the executor's real-time process failed to start: {reason}")
            time.sleep(0.01)
        self.close()
        raise RuntimeError(f"the executor's real-time process did not start within {timeout:.0f} s")

    def _beat_loop(self) -> None:
        while not self._beat_stop.wait(self._beat_period):
            self.block.header[S.H_NODE_BEAT] = time.monotonic_ns()

    def alive(self) -> tuple[bool, str]:
        """(True, '') while the process runs; else (False, why). A process that is only late is alive: see
        `since_last_tick` (a starved host delays it; that is a figure for the diagnostics, not a death)."""
        if self.proc is None:
            return False, "not started"
        code = self.proc.poll()
        if code is not None:
            return False, f"the real-time process exited (status {code})"
        state = int(self.block.header[S.H_RT_STATE])
        return True, S.RT_STATE_NAMES[state] if state != S.RT_RUNNING else ""

    def since_last_tick(self) -> float:
        """Seconds since the process last finished a loop iteration (0 before it runs)."""
        beat = int(self.block.header[S.H_RT_BEAT])
        return 0.0 if beat == 0 else (time.monotonic_ns() - beat) * 1e-9

    def stop(self, timeout: float | None = None) -> int | None:
        """Ask for the damping ramp (counted in ticks) and wait for the process to end; kill it if it does not."""
        if self.proc is None:
            return None
        self.block.header[S.H_STOP_REQ] = 1
        if timeout is None:
            timeout = float(self.params["disable_damping_time"]) * 4 + 2.0
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("the executor's real-time process did not stop within %.1f s: killing it", timeout)
            self.proc.kill()
            code = self.proc.wait()
        return code

    def close(self) -> None:
        """Stop the process (if running), the heartbeat, and free the shared memory."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self._beat_stop.set()
        if self._beat.is_alive():
            self._beat.join(1.0)
        if self.block is not None:
            name = self.block.shm
            self.block.close()
            try:
                name.unlink()
            except FileNotFoundError:
                pass
            self.block = None

    # ---------------------------------------------------------------- inputs
    def estop(self, reason: str) -> None:
        """Latched by the process at the start of its next tick, whose command is the first damping command."""
        b = self.block
        with self._lock:
            S.put_text(b.estop_text, reason[: S.TEXT_BYTES - 1] + "\0")
            S.fence()
            b.header[S.H_ESTOP_REQ] += 1

    def set_clock(self, t: float) -> None:
        self.block.write_clock(t)

    def _post(self, kind: int, fill=None, wait: float = 0.0) -> int:
        """Write a request into its slot (waiting up to 1 s for the slot to be served); returns its id, or 0."""
        b = self.block
        with self._lock:
            rid = self._next_id
            slot = rid % S.REQ_SLOTS
            deadline = time.monotonic() + 1.0
            while rid - int(b.header[S.H_REQ_DONE]) > S.REQ_SLOTS:
                if time.monotonic() > deadline or self.proc is None or self.proc.poll() is not None:
                    return 0
                time.sleep(0.001)
            b.header[S.H_NODE_BEAT] = time.monotonic_ns()  # a request is a sign of life (it may precede the beat)
            b.req_kind[slot] = kind
            if fill is not None:
                fill(slot)
            S.fence()
            b.req_seq[slot] = rid
            self._next_id = rid + 1
        return rid

    def reply(self, rid: int, timeout: float = 2.0) -> tuple[bool, str]:
        """The verdict of request `rid` (False with the reason on a timeout or a dead process)."""
        if rid == 0:
            return False, "the executor's real-time process does not take requests (queue full or process gone)"
        b, slot = self.block, rid % S.REQ_SLOTS
        deadline = time.monotonic() + timeout
        while int(b.rep_seq[slot]) != rid:
            ok, why = self.alive()
            if not ok:
                return False, why
            if time.monotonic() > deadline:
                return False, f"the executor's real-time process did not answer within {timeout:.1f} s"
            time.sleep(0.001)
        S.fence()
        return bool(b.rep_ok[slot]), S.get_text(b.rep_text[slot])

    def request(self, kind: int, timeout: float = 2.0) -> tuple[bool, str]:
        return self.reply(self._post(kind), timeout)

    def submit_chunk(self, chunk: ActionChunk) -> int:
        """Queue a policy chunk (names must be G1 joints or grippers; points <= max_points: the caller checked)."""
        idx = [S.CHANNEL_INDEX[n] for n in chunk.joint_names]
        pos = np.asarray(chunk.positions, dtype=np.float64)
        npts = int(pos.shape[0])
        b = self.block

        def fill(slot: int) -> None:
            b.req_njoints[slot], b.req_npoints[slot], b.req_stamp[slot] = len(idx), npts, chunk.stamp
            b.req_joints[slot, : len(idx)] = idx
            b.req_times[slot, :npts] = chunk.times
            b.req_positions[slot, : pos.size] = pos.reshape(-1)

        return self._post(S.CHUNK, fill)

    def submit_teleop(self, names: list[str], positions: np.ndarray) -> int:
        idx = [S.CHANNEL_INDEX[n] for n in names]
        b = self.block

        def fill(slot: int) -> None:
            b.req_njoints[slot], b.req_npoints[slot] = len(idx), 1
            b.req_joints[slot, : len(idx)] = idx
            b.req_positions[slot, : len(idx)] = positions

        return self._post(S.TELEOP, fill)

    def reject(self, kind: str, reason: str) -> int:
        """Count an input the node refused before it reached the core (kind 'policy' or 'teleop')."""
        b = self.block

        def fill(slot: int) -> None:
            S.put_text(b.req_text[slot], reason[: S.TEXT_BYTES - 1] + "\0")

        return self._post(S.REJECT_POLICY if kind == "policy" else S.REJECT_TELEOP, fill)

    def clock_report(self, report) -> int:
        """Forward a control.interlocks.ClockOffsetReport (the process stamps its arrival on its own clock)."""
        b = self.block

        def fill(slot: int) -> None:
            b.req_stamp[slot] = np.nan if report.offset is None else report.offset
            b.req_times[slot, 0] = np.nan if report.uncertainty is None else report.uncertainty
            S.put_text(b.req_text[slot], report.error[: S.TEXT_BYTES - 1] + "\0")

        return self._post(S.CLOCK_REPORT, fill)

    # ---------------------------------------------------------------- outputs
    def status(self) -> dict:
        return self.block.read_status()

    def last_command(self) -> tuple[int, np.ndarray | None]:
        return self.block.read_command()

    def new_logs(self) -> list[tuple[int, str]]:
        """(level, text) of log records written by the process since the last call."""
        b = self.block
        head = int(b.header[S.H_LOG_HEAD])
        S.fence()
        out = []
        if head - self._log_tail > S.LOG_SLOTS:
            out.append((logging.WARNING, f"{head - self._log_tail - S.LOG_SLOTS} executor log lines were lost"))
            self._log_tail = head - S.LOG_SLOTS
        while self._log_tail < head:
            slot = self._log_tail % S.LOG_SLOTS
            out.append((int(b.log_level[slot]), S.get_text(b.log_text[slot], int(b.log_len[slot]))))
            self._log_tail += 1
        return out

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


__all__ = ["RtClient", "NUM_JOINTS"]
