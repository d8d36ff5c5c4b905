"""A scripted G1 that publishes rt/lowstate from its own real-time process, for tests and benches.

Why a process of its own, under SCHED_FIFO: on the robot, LowState comes from the robot's own board, which
never waits for the computer that runs the executor. A stand-in that publishes from a thread of the test's
process shares that process's interpreter lock (its rclpy executor, the node under test) and, at normal
priority, the CPUs with everything else on a loaded machine: it fell silent for 200 ms in a CI run and the
executor rightly damped for a stale robot. The test then measured the host's scheduler, not the executor.
Here the stand-in asks for SCHED_FIFO (below the executor's control process, like the simulator's physics
process; where the OS refuses, one log line says so and it runs at normal priority) before it creates any DDS
entity, so CycloneDDS's threads inherit it.

The test talks to it through shared memory: pause/resume, a number of CRC-invalid messages to send, the
wireless-remote bytes, a simulated clock (start time and speed), and counters it reads back.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
from dit4dit_ros.utils.dds_env import DdsIsolation
from dit4dit_ros.utils.waiting import wait_until

REMOTE_BYTES = 40
BAD_CRC_MARKER = 2.5  # joint 0's position in a CRC-invalid message
_BAD_TICK_BASE = 100_000
_SIM_START, _SIM_WALL, _SIM_SPEED = 0, 1, 2


def scripted_positions(tick: int, num_joints: int) -> Any:
    """Joint positions of the message with `tick`: joint i at 0.01*i plus a slow ramp (1e-4 per tick, mod 1000)."""
    import numpy as np

    return 0.01 * np.arange(num_joints) + 1e-4 * (tick % 1000)


class _Shared:
    """The control block shared with the publishing process (multiprocessing primitives, picklable at spawn)."""

    def __init__(self, ctx: Any) -> None:
        self.ready = ctx.Event()
        self.running = ctx.Event()
        self.stop = ctx.Event()
        self.tick = ctx.Value("q", 0)
        self.sent_valid = ctx.Value("q", 0)
        self.cycles = ctx.Value("q", 0)  # loop cycles completed (a pause is in effect once one more has run)
        self.bad_requested = ctx.Value("q", 0)
        self.sent_bad = ctx.Value("q", 0)
        self.crc_zero = ctx.Value("b", 0)
        self.remote = ctx.Array("B", REMOTE_BYTES)
        self.sim_on = ctx.Value("b", 0)
        self.sim = ctx.Array("d", 3)  # simulated time at `wall`, the wall time (CLOCK_MONOTONIC), speed
        self.realtime = ctx.Array("c", 64)  # what the scheduler granted, for the record


class FakeLowStateRobot:
    """Valid LowState_ at `rate_hz` while resumed: joint i at `scripted_positions`, dq = -q, tau = 2q, IMU
    quaternion identity, gyro (0.1, 0.2, 0.3), acc (0, 0, 9.81), mode_machine 5.

    `send_bad(n)` sends n messages with a corrupted CRC whose joint 0 is BAD_CRC_MARKER; `remote` is the
    wireless-remote report the messages carry; `crc_zero` publishes CRC 0 like Unitree's simulators. `tick`
    counts messages, or after `set_sim_clock` it is that simulated time in milliseconds, like the simulator's
    LowState, and like it never decreases (a clock set behind the newest tick sent holds that tick). Uses the
    Unitree DDS domain and interface of `isolation` (this process's environment by default), and initialises
    this process's Unitree DDS with it too, for the test's own listeners on the robot's wire.
    The process ends by itself after `max_seconds`, and with the process that started it.
    """

    BAD_CRC_MARKER = BAD_CRC_MARKER

    def __init__(self, rate_hz: float = CONTROL_RATE_HZ, max_seconds: float = 120.0, realtime_priority: int = 70,
                 isolation: DdsIsolation | None = None, start_timeout: float = 60.0) -> None:
        from dit4dit_ros.g1.dds import init_unitree_dds

        if rate_hz <= 0 or max_seconds <= 0:
            raise ValueError(f"rate_hz and max_seconds must be positive, got {rate_hz} and {max_seconds}")
        self.period = 1.0 / rate_hz
        self.max_seconds = max_seconds
        ctx = mp.get_context("spawn")
        self._shared = _Shared(ctx)
        self._process = ctx.Process(
            target=_serve, name="fake-lowstate",
            args=(self._shared, self.period, max_seconds, realtime_priority,
                  init_unitree_dds(isolation), os.getpid()),
            daemon=True)
        self._process.start()
        try:
            wait_until(lambda: self._shared.ready.is_set() or not self._process.is_alive(), start_timeout, poll=0.02,
                       what="the fake LowState robot's process")
        except Exception:
            self.close()
            raise
        if not self._shared.ready.is_set():
            raise RuntimeError(f"the fake LowState robot's process exited at start (exit code "
                               f"{self._process.exitcode}); its error is on stderr")

    # --- control -------------------------------------------------------------------------------------------
    def resume(self) -> None:
        self._shared.running.set()

    def pause(self, timeout: float = 10.0) -> None:
        """Stop sending; returns once the process has sent its last valid message, so that `tick` and
        `sent_valid` are final (DDS delivery of what was sent may still be under way).

        Why wait: the process may have read `running` just before it was cleared and still write one message.
        The cycle that read it ends before the next one starts, and that next one sees the pause, so two
        completed cycles after the clear are enough."""
        self._shared.running.clear()
        first = self.cycles
        wait_until(lambda: self.cycles >= first + 2 or not self._process.is_alive(), timeout, poll=self.period,
                   what="the fake LowState robot to pause")

    def send_bad(self, count: int, timeout: float = 10.0) -> None:
        """Send `count` CRC-invalid messages (one per period, between the valid ones) and return once sent."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._shared.bad_requested.get_lock():
            self._shared.bad_requested.value += count
            target = self._shared.bad_requested.value
        wait_until(lambda: self._shared.sent_bad.value >= target or not self._process.is_alive(), timeout,
                   poll=self.period, what=f"{count} CRC-invalid LowState message(s) sent")
        if self._shared.sent_bad.value < target:
            raise RuntimeError("the fake LowState robot's process is gone")

    def set_sim_clock(self, sim_time: float, speed: float = 1.0) -> None:
        """From now, `tick` is simulated time in ms: `sim_time` now, advancing `speed` s per wall second (0: frozen)."""
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        with self._shared.sim.get_lock():
            self._shared.sim[_SIM_START] = float(sim_time)
            self._shared.sim[_SIM_WALL] = time.monotonic()
            self._shared.sim[_SIM_SPEED] = float(speed)
            self._shared.sim_on.value = 1

    @property
    def remote(self) -> bytes:
        with self._shared.remote.get_lock():
            return bytes(self._shared.remote[:])

    @remote.setter
    def remote(self, value: bytes) -> None:
        value = bytes(value)
        if len(value) != REMOTE_BYTES:
            raise ValueError(f"remote must be {REMOTE_BYTES} bytes (the wireless-remote report), got {len(value)}")
        with self._shared.remote.get_lock():
            self._shared.remote[:] = value

    @property
    def crc_zero(self) -> bool:
        return bool(self._shared.crc_zero.value)

    @crc_zero.setter
    def crc_zero(self, value: bool) -> None:
        self._shared.crc_zero.value = 1 if value else 0

    # --- what it sent --------------------------------------------------------------------------------------
    @property
    def tick(self) -> int:
        return int(self._shared.tick.value)

    @property
    def sent_valid(self) -> int:
        return int(self._shared.sent_valid.value)

    @property
    def cycles(self) -> int:
        return int(self._shared.cycles.value)

    @property
    def sent_bad(self) -> int:
        return int(self._shared.sent_bad.value)

    @property
    def scheduler(self) -> str:
        """What the OS granted the publishing process ("SCHED_FIFO:70" or "normal")."""
        return self._shared.realtime.value.decode()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def joint_position(self, index: int) -> float:
        """Joint `index`'s position in the newest valid message (this robot never follows commands)."""
        from dit4dit_ros.g1.joints import NUM_JOINTS

        return float(scripted_positions(self.tick, NUM_JOINTS)[index])

    def close(self) -> None:
        self._shared.stop.set()
        self._process.join(5.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)


def _serve(shared: _Shared, period: float, max_seconds: float, priority: int, isolation: DdsIsolation,
           parent: int) -> None:
    """The publishing process: real time first, then DDS, then a paced loop bounded by `max_seconds`."""
    import logging

    import numpy as np

    from dit4dit_ros.g1.dds import LowStateWriter, init_unitree_dds
    from dit4dit_ros.g1.joints import NUM_JOINTS
    from dit4dit_ros.g1.lowstate import fill_lowstate, new_lowstate
    from dit4dit_ros.utils.process_life import die_with_parent
    from dit4dit_ros.utils.realtime import RealtimeConfig, apply_realtime

    die_with_parent(parent)
    logging.basicConfig(level=logging.WARNING, format="[fake-lowstate] %(levelname)s %(name)s: %(message)s")
    report = apply_realtime(RealtimeConfig(enabled=True, priority=priority, lock_memory=False), "fake LowState robot")
    shared.realtime.value = report.scheduler.encode()[:63]
    init_unitree_dds(isolation)
    writer = LowStateWriter()
    msg = new_lowstate()
    remote_written = bytes(REMOTE_BYTES)
    quat, gyro, acc = np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.0, 9.81])

    def fill(tick: int, bad: bool) -> Any:
        nonlocal remote_written
        q = scripted_positions(tick, NUM_JOINTS)
        if bad:
            q[0] = BAD_CRC_MARKER
        with shared.remote.get_lock():
            remote = bytes(shared.remote[:])
        if remote != remote_written:  # the wireless remote's 40 bytes (covered by the CRC below)
            msg.wireless_remote = list(remote)
            remote_written = remote
        fill_lowstate(msg, q, -q, 2 * q, quat, gyro, acc, tick=tick, mode_machine=5)
        if bad:
            msg.crc ^= 0x1
        elif shared.crc_zero.value:
            msg.crc = 0  # what Unitree's own simulators publish
        return msg

    newest_sim_tick = 0

    def next_tick() -> int:
        nonlocal newest_sim_tick
        if not shared.sim_on.value:
            return int(shared.tick.value) + 1
        with shared.sim.get_lock():
            start, wall, speed = shared.sim[_SIM_START], shared.sim[_SIM_WALL], shared.sim[_SIM_SPEED]
        # a simulator's time never runs backwards: a clock set (or frozen) a little behind what was already sent
        # holds the tick until it catches up
        newest_sim_tick = max(newest_sim_tick, int(round((start + speed * (time.monotonic() - wall)) * 1000.0)))
        return newest_sim_tick

    shared.ready.set()
    next_t = time.monotonic()
    deadline = next_t + max_seconds
    try:
        while not shared.stop.is_set() and time.monotonic() < deadline:
            if shared.sent_bad.value < shared.bad_requested.value:
                writer.write(fill(_BAD_TICK_BASE + int(shared.sent_bad.value), bad=True))
                shared.sent_bad.value += 1
            if shared.running.is_set():
                shared.tick.value = next_tick()
                writer.write(fill(int(shared.tick.value), bad=False))
                shared.sent_valid.value += 1
            shared.cycles.value += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()  # late (a stall): no burst to catch up
    finally:
        writer.close()


__all__ = ["BAD_CRC_MARKER", "FakeLowStateRobot", "scripted_positions"]
