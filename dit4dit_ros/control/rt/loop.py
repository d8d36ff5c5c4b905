"""The executor's 500 Hz loop as it runs in the real-time process: LowState in, ExecutorCore.tick, LowCmd out.

Order inside one tick (the time-critical section, measured as the tick's work):
  1. the e-stop counter in shared memory: a new e-stop latches ESTOP in the core before anything else;
  2. LowState samples that arrived since the last take (usually one: the rest were taken after the previous
     tick's write) go to the core;
  3. core.tick(now) and, when it says so, the LowCmd is encoded and written.
Then, outside it: log records of the tick (buffered by `DeferredLog`, so a mode change or the e-stop never
delays its own command), the last command and the status into shared memory, requests from the node
(chunks, teleop, enable/...), LowState decoding for the next tick, heartbeats, a young-generation GC pass.

Time: `now` is monotonic (clock:=steady) or the later of the node's ROS clock and the robot's own time from
LowState tick (clock:=ros; docs/realtime.md). With `command_echo` (a command-stepped simulator, sim/command_step.py)
`now` is the robot's time alone and a tick runs only when a new LowState arrived: one command per state, computed
at that state's tick and carrying it back (g1/lowcmd.py CommandEcho), so the simulator's physics sees the same
commands however the host schedules this process. Once stopping (node gone, SIGTERM, stop request) the core's
time advances exactly one tick period per tick, so the damping ramp lasts its number of ticks whatever the
wall clock does, and the loop ends only after the ramp (and the final weight-0 command) went out.

A node whose heartbeat stops (hung, or only stalled: a host that did not run it for 2 s) is not a node that
died: the loop disables (the damping ramp, then DISABLED: nothing more is sent) or keeps its ESTOP, and goes on
ticking. It still reads the wireless remote and takes the node's requests when it beats again, so a stall that
ends costs an enable, not the executor; a node that stays hung is killed by its supervisor, and its death ends
this process (PR_SET_PDEATHSIG). Exiting on a stall, as it once did, left a graph whose executor node recovered
with no executor (a CI run: "could not enable the executor", after a 2.07 s stall during the policy's start-up).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass


from dit4dit_ros.control.chunk import ActionChunk, ChunkSource
from dit4dit_ros.control.executor import ExecutorCore, Mode
from dit4dit_ros.control.interlocks import ClockOffsetReport
from dit4dit_ros.control.rt import shm as S
from dit4dit_ros.control.rt.stats import TickStats

log = logging.getLogger(__name__)


class DeferredLog(logging.Handler):
    """Keeps log records made during a tick (one list append each) until `flush`, after the write."""

    def __init__(self, block: S.ControlShm, echo=None) -> None:
        super().__init__(logging.INFO)
        self.block = block
        self.pending: list[logging.LogRecord] = []
        self.echo = echo  # a stream for a copy of each line (the process's stderr), or None

    def emit(self, record: logging.LogRecord) -> None:
        self.pending.append(record)

    def flush(self) -> None:
        if not self.pending:
            return
        records, self.pending = self.pending, []
        b = self.block
        for record in records:
            text = record.getMessage()
            slot = int(b.header[S.H_LOG_HEAD]) % S.LOG_SLOTS
            b.log_len[slot] = S.put_text(b.log_text[slot], text)
            b.log_level[slot] = record.levelno
            S.fence()
            b.header[S.H_LOG_HEAD] += 1
            if self.echo is not None:
                self.echo.write(f"[executor-rt] {logging.getLevelName(record.levelno)}: {text}\n")


@dataclass
class LoopOptions:
    ros_clock: bool = False
    auto_enable: bool = False
    mode_pr: int = 0
    arm_sdk: bool = True
    heartbeat_timeout: float = 2.0  # s without the node's heartbeat -> disable (damping ramp), keep ticking
    status_every: int = 25  # ticks between status snapshots (50 ms at 500 Hz)
    command_echo: bool = False  # one command per LowState, echoing its tick (needs ros_clock; module docstring)


class RtLoop:
    """One executor loop. `poller.take(now)` -> LowStateSamples; `writer.write_command(MotorCommand, ...)`."""

    def __init__(self, core: ExecutorCore, poller, writer, block: S.ControlShm, opts: LoopOptions,
                 clock=time.monotonic) -> None:
        self.core, self.poller, self.writer, self.block, self.opts = core, poller, writer, block, opts
        self.period = core.cfg.tick_period
        self._clock = clock
        self.stats = TickStats(window=5000)
        self.tick_no = 0
        self.ticks_run = 0  # ticks that ran the core (not skipped while simulated time stood still)
        self.sent = 0
        self.send_failures = 0
        self.tick_errors = 0
        self.mode_machine: int | None = None
        self.robot_time = -math.inf
        self.latest_stamp = 0.0
        self.latest_tick = 0  # LowState tick of the newest accepted state (command_echo)
        self.newest_chunk_stamp = 0.0  # observation time of the newest chunk handled (command_echo)
        self._new_state = False
        self._no_command = None  # the MotorCommand of answer-only echoes (made once)
        self.lowstate_received = 0
        self._estop_seen = int(block.header[S.H_ESTOP_REQ])
        self.estop_latched_tick: int | None = None
        self.estop_first_damping_tick: int | None = None
        self.estop_latched_at: float | None = None
        self.estop_first_damping_sent_at: float | None = None
        self._last_now = -math.inf
        self._pending_states: list = []
        self.stopping_reason = ""
        self.node_silent_since: float | None = None  # monotonic time the node's heartbeat was found stale
        self.node_silences = 0
        self._stop_t0: float | None = None
        self._stop_ticks = 0
        self.shutdown_damping_ticks = 0
        self._req_next = int(block.header[S.H_REQ_DONE]) + 1
        self._auto_enabled = False
        self.extra_status: dict = {}
        self.clock_check = None  # control.interlocks.ClockOffsetCheck fed by CLOCK_REPORT requests
        self.hands = None  # control.rt.hands.RtHands when the executor drives the Dex3-1 hands

    # ---------------------------------------------------------------- time
    def _core_now(self, wall: float) -> float:
        if self._stop_t0 is not None:  # stopping: one tick period per tick (the ramp is counted in ticks)
            return self._stop_t0 + self._stop_ticks * self.period
        if self.opts.command_echo:
            return self.robot_time
        if self.opts.ros_clock:
            return max(self.block.read_clock(), self.robot_time)
        return wall

    # ---------------------------------------------------------------- LowState
    def state_waiter(self):
        """command_echo: something whose wait(seconds) returns as soon as a LowState arrives."""
        from dit4dit_ros.g1.dds import DataWaiter

        return DataWaiter(self.poller)

    def has_pending_states(self) -> bool:
        return bool(self._pending_states)

    def take_states(self, wall: float) -> None:
        """Decode what arrived (outside the tick when called after the write); fed to the core in the tick."""
        self._pending_states.extend(self.poller.take(wall))

    def _feed_states(self, wall: float) -> None:
        self.take_states(wall)
        if not self._pending_states:
            return
        now = self._core_now(wall)
        core = self.core
        for sample in self._pending_states:
            stamp = sample.tick * 1e-3 if self.opts.ros_clock else sample.receive_time
            core.observe_lowstate(sample, now, stamp)  # the gate (CRC policy, variant) and the remote's buttons
            if core.robot_input.last_drop is None:
                self.mode_machine = sample.mode_machine
                self.lowstate_received += 1
                self.latest_stamp = stamp
                self.latest_tick = int(sample.tick)
                self._new_state = True
                if self.opts.ros_clock:
                    self.robot_time = max(self.robot_time, stamp)
        self._pending_states.clear()

    # ---------------------------------------------------------------- the tick
    def tick(self, wall: float) -> None:
        """The time-critical section: e-stop, state, core.tick, write."""
        b, core = self.block, self.core
        self.tick_no += 1
        estop_now = False
        req = int(b.header[S.H_ESTOP_REQ])
        if req != self._estop_seen:
            self._estop_seen = req
            if core.mode is not Mode.ESTOP:
                core.estop(self._core_now(wall), S.get_text(b.estop_text) or "e-stop requested")
                self.estop_latched_tick, self.estop_latched_at = self.tick_no, wall
                self.estop_first_damping_tick = self.estop_first_damping_sent_at = None
                estop_now = True
        self._new_state = False
        self._feed_states(wall)
        now = self._core_now(wall)
        if self.opts.command_echo:
            if not self._new_state and not estop_now and self._stop_t0 is None:
                return  # one command per LowState: the simulator waits for the answer to its newest state
        elif self.opts.ros_clock and now <= self._last_now and not estop_now and self._stop_t0 is None:
            return  # simulated time stands still (lock-step pause): so does the robot
        self._last_now = max(now, self._last_now)
        self.ticks_run += 1
        if self.opts.auto_enable and not self._auto_enabled and core.mode is Mode.DISABLED \
                and self.mode_machine is not None and now > 0.0:
            self._auto_enabled = bool(core.enable(now)) or core.mode is not Mode.DISABLED
        try:
            cmd = core.tick(now)
        except Exception as exc:  # never leave the robot with a stale command: latch damping
            self.tick_errors += 1
            core.estop(now, f"control tick failed: {exc!r}")
            cmd = core.damping_command(now)
        if self._stop_t0 is not None:
            self._stop_ticks += 1
            if cmd.send and cmd.is_damping:
                self.shutdown_damping_ticks += 1
        if self.opts.command_echo and not cmd.send:
            self._answer_only()  # the simulator waits for an answer to every state, command or not
        if cmd.send and self._send(cmd):
            if self.estop_latched_tick is not None and self.estop_first_damping_tick is None and cmd.is_damping:
                self.estop_first_damping_tick, self.estop_first_damping_sent_at = self.tick_no, self._clock()
            if not cmd.is_damping:
                b.write_command(cmd.q, cmd.dq, cmd.tau)
        if self.hands is not None:  # after the body's command: the hands run at 100 Hz
            self.hands.tick(self.ticks_run, now)  # counted in ticks that ran: sim time, not the host's timing

    def _echo(self, answer_only: bool = False):
        """command_echo: the newest state's tick and the newest handled chunk, for the LowCmd's reserve words."""
        from dit4dit_ros.g1.lowcmd import CommandEcho

        return CommandEcho(self.latest_tick, round(self.newest_chunk_stamp * 1e3), answer_only)

    def _answer_only(self) -> None:
        """command_echo: tell the simulator this state was seen and nothing goes to the motors (not a command)."""
        from dit4dit_ros.g1.lowcmd import MotorCommand

        if self._no_command is None:  # any valid command: the simulator does not apply an answer-only echo
            self._no_command = MotorCommand.damping()
        try:
            self.writer.write_command(self._no_command, self.mode_machine or 0, mode_pr=self.opts.mode_pr,
                                      arm_sdk_weight=0.0 if self.opts.arm_sdk else 1.0, echo=self._echo(True))
        except Exception:
            log.exception("LowCmd answer write failed")

    def _send(self, cmd) -> bool:
        from dit4dit_ros.g1.lowcmd import MotorCommand

        if self.mode_machine is None:
            return False  # no LowState yet: a command without the robot's mode_machine would be ignored
        weight = float(cmd.arm_sdk_weight) if self.opts.arm_sdk else 1.0
        try:
            echo = self._echo() if self.opts.command_echo else None
            ok = self.writer.write_command(MotorCommand(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau), self.mode_machine,
                                           mode_pr=self.opts.mode_pr, arm_sdk_weight=weight, echo=echo)
        except Exception:
            log.exception("LowCmd write failed")
            ok = False
        if ok:
            self.sent += 1
        else:
            self.send_failures += 1
        return ok

    # ---------------------------------------------------------------- between ticks
    def serve_requests(self) -> None:
        """Carry out the node's requests in order (chunks, teleop, enable, ...), each answered in its slot."""
        b = self.block
        now = self._last_now if self.opts.ros_clock else self._clock()
        if self._stop_t0 is not None:
            now = self._core_now(0.0)
        while True:
            rid = self._req_next
            slot = rid % S.REQ_SLOTS
            if int(b.req_seq[slot]) != rid:
                return
            S.fence()
            kind = int(b.req_kind[slot])
            ok, reason = self._serve(kind, slot, now) if self._stop_t0 is None else (False, "executor is stopping")
            b.rep_ok[slot] = 1 if ok else 0
            S.put_text(b.rep_text[slot], reason + "\0")
            S.fence()
            b.rep_seq[slot] = rid
            b.header[S.H_REQ_DONE] = rid
            self._req_next = rid + 1

    def _serve(self, kind: int, slot: int, now: float) -> tuple[bool, str]:
        b, core = self.block, self.core
        if kind == S.ENABLE:
            if self.opts.ros_clock and now <= 0.0:
                return False, "the ROS clock is not running yet (waiting for /clock)"
            v = core.enable(now)
        elif kind == S.DISABLE:
            v = core.disable(now)
        elif kind == S.RESET_ESTOP:
            v = core.reset_estop(now)
            if v:
                self.estop_latched_tick = self.estop_first_damping_tick = None
                self.estop_latched_at = self.estop_first_damping_sent_at = None
        elif kind in (S.CHUNK, S.TELEOP):
            nj, npts = int(b.req_njoints[slot]), int(b.req_npoints[slot])
            idx = b.req_joints[slot, :nj]
            names = tuple(S.CHANNEL_NAMES[i] for i in idx)
            pos = b.req_positions[slot, : npts * nj].reshape(npts, nj).copy()
            if kind == S.TELEOP:
                v = core.submit_teleop(names, pos.reshape(-1), now)
            else:
                chunk = ActionChunk(names, float(b.req_stamp[slot]), b.req_times[slot, :npts].copy(), pos,
                                    ChunkSource.POLICY)
                v = core.submit_chunk(chunk, now)
                # echoed whatever the verdict: the simulator waits until the chunk was *handled* (a refused one too),
                # told at once by an answer to the newest state that is no command (its command stands)
                self.newest_chunk_stamp = max(self.newest_chunk_stamp, chunk.stamp)
                if self.opts.command_echo:
                    self._answer_only()
        elif kind == S.CLOCK_REPORT:
            offset, unc = float(b.req_stamp[slot]), float(b.req_times[slot, 0])
            if self.clock_check is not None:
                self.clock_check.update(ClockOffsetReport(None if math.isnan(offset) else offset,
                                                          None if math.isnan(unc) else unc,
                                                          S.get_text(b.req_text[slot]), now))
            return True, ""
        elif kind in (S.REJECT_POLICY, S.REJECT_TELEOP):
            v = core.record_rejection("policy" if kind == S.REJECT_POLICY else "teleop", S.get_text(b.req_text[slot]))
        else:
            return False, f"unknown request kind {kind}"
        if not v and kind in (S.CHUNK, S.TELEOP, S.REJECT_POLICY, S.REJECT_TELEOP):
            log.warning("%s rejected: %s", "teleop command" if kind in (S.TELEOP, S.REJECT_TELEOP) else "action chunk",
                        v.reason)
        return bool(v), v.reason

    def status(self) -> dict:
        core = self.core
        st = core.status()
        st.update(
            commands_sent=self.sent,
            send_failures=self.send_failures,
            tick_errors=self.tick_errors,
            tick=self.stats.report(),
            lowstate_received=self.lowstate_received,
            lowstate_tick=self.latest_tick,  # the newest accepted LowState's own tick (its time with clock ros)
            # the time the loop last ticked at (the robot's time with clock ros or command_echo): an enable is served
            # at it, so an evaluator that wants the soft start to begin at a reset's state waits until it got there
            control_time=None if not math.isfinite(self._last_now) else round(self._last_now, 6),
            lowstate_age_ms=None if self.latest_stamp == 0.0 else round(1e3 * (self._last_now - self.latest_stamp), 2)
            if self.opts.ros_clock else round(1e3 * (self._clock() - self.latest_stamp), 2),
            mode_machine=self.mode_machine,
            estop_latched_tick=self.estop_latched_tick,
            estop_first_damping_tick=self.estop_first_damping_tick,
            estop_latched_at=self.estop_latched_at,
            estop_first_damping_sent_at=self.estop_first_damping_sent_at,
            stopping=self.stopping_reason,
            node_silent=self.node_silent_since is not None,
            node_silences=self.node_silences,
            shutdown_damping_ticks=self.shutdown_damping_ticks,
            base_pose=[round(float(x), 6) for x in core._base],  # noqa: SLF001 - the pose joints without input hold
            measured_q=None if core._last_valid is None  # noqa: SLF001 - the newest valid LowState's joints
            else [round(float(x), 6) for x in core._last_valid.q],  # noqa: SLF001
            **(self.hands.status() if self.hands is not None else {}),
            **self.extra_status,
        )
        return st

    # ---------------------------------------------------------------- stopping
    def begin_stop(self, reason: str, wall: float) -> None:
        """Damping for disable_damping_time (counted in ticks), then the loop ends (`finished`)."""
        if self._stop_t0 is not None:
            return
        self.stopping_reason = reason
        self._stop_t0 = max(self._core_now(wall), self._last_now)
        self._stop_ticks = 0
        log.warning("executor stopping (%s): damping for %d ticks, then the command stream stops", reason,
                    self.damping_ticks())
        if self.core.mode is not Mode.ESTOP:
            self.core.disable(self._stop_t0)

    def damping_ticks(self) -> int:
        return int(math.ceil(self.core.cfg.disable_damping_time / self.period - 1e-9))

    @property
    def stopping(self) -> bool:
        return self._stop_t0 is not None

    def finished(self) -> bool:
        """Stopping and the ramp is complete: DISABLED (its final weight-0 command sent), or ESTOP held as long."""
        if self._stop_t0 is None:
            return False
        if self.core.mode is Mode.ESTOP:
            return self._stop_ticks >= self.damping_ticks()
        return self.core.mode in (Mode.DISABLED,) and not self.core._release_pending  # noqa: SLF001

    def node_alive(self, wall_ns: int) -> bool:
        beat = int(self.block.header[S.H_NODE_BEAT])
        return beat == 0 or (wall_ns - beat) * 1e-9 < self.opts.heartbeat_timeout

    def watch_node(self, wall_ns: int) -> None:
        """The node's heartbeat: stale -> disable (or keep the e-stop) once; fresh again -> say so (module docstring)."""
        alive = self.node_alive(wall_ns)
        if not alive and self.node_silent_since is None:
            self.node_silent_since = wall_ns * 1e-9
            self.node_silences += 1
            core = self.core
            now = self._core_now(wall_ns * 1e-9)
            if core.mode is Mode.ESTOP:
                action = "the e-stop stays latched"
            elif core.mode is Mode.DISABLED:
                action = "nothing is commanded"
            else:
                action = f"disabling from {core.mode.value} (damping for {core.cfg.disable_damping_time} s)"
                core.disable(max(now, self._last_now))
            log.warning("the node's heartbeat stopped (none for %.1f s): %s; this process goes on and takes the "
                        "node's requests when it beats again", self.opts.heartbeat_timeout, action)
        elif alive and self.node_silent_since is not None:
            log.warning("the node's heartbeat is back after %.2f s; mode %s (enable again to move)",
                        wall_ns * 1e-9 - self.node_silent_since, self.core.mode.value)
            self.node_silent_since = None


def run_loop(loop: RtLoop, logs: DeferredLog, should_stop, gc_policy=None) -> None:
    """Tick at absolute deadlines until the loop finished stopping. `should_stop()` -> reason or ''."""
    b = loop.block
    period = loop.period
    deadline = time.monotonic()
    n = 0
    # command_echo: a tick as soon as a LowState arrives (the simulator waits for its answer), else every period
    waiter = loop.state_waiter() if loop.opts.command_echo else None
    while True:
        now = time.monotonic()
        delay = deadline - now
        if delay > 0:
            if waiter is not None and not loop.has_pending_states():
                waiter.wait(delay)
            elif waiter is None:
                time.sleep(delay)
            now = time.monotonic()
        loop.tick(now)
        done = time.monotonic()
        loop.stats.add(now, now - deadline, done - now)
        # ---- outside the time-critical section
        logs.flush()
        b.header[S.H_RT_BEAT] = time.monotonic_ns()
        b.header[S.H_TICKS] = loop.tick_no
        if not loop.stopping:
            reason = should_stop()
            if reason:
                loop.begin_stop(reason, done)
                b.header[S.H_RT_STATE] = S.RT_STOPPING
                logs.flush()
            else:
                loop.watch_node(time.monotonic_ns())
        loop.serve_requests()
        logs.flush()
        n += 1
        if n % loop.opts.status_every == 0 or loop.finished():
            b.write_status(loop.status())
        if loop.finished():
            if waiter is not None:
                waiter.close()
            return
        loop.take_states(time.monotonic())
        if gc_policy is not None:
            gc_policy.between_ticks()
        if waiter is not None:
            deadline = now + period
            continue
        deadline += period
        late = time.monotonic() - deadline
        if late > period:  # more than a tick behind: skip, do not burst
            skipped = int(late // period)
            deadline += skipped * period
            loop.stats.overruns += skipped


__all__ = ["RtLoop", "LoopOptions", "DeferredLog", "run_loop"]
