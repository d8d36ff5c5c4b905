"""Command-stepped simulation: after each LowState, the physics waits for the executor's answer to it.

Why: in lock-step the simulation pauses at every camera frame until the policy answers, but between frames the
physics was paced by the wall clock while the executor's 500 Hz commands arrived on their own schedule. Which
command each physics step saw depended on how the host scheduled three processes, so the same episode seed
could succeed idle and fail on a busy machine (or the other way round).

The rule (with the executor's `command_echo`, g1/lowcmd.py CommandEcho):
  1. After publishing the LowState of tick T, the simulator takes commands until one echoes `state_tick >= T`,
     i.e. the executor's answer to this very state, and applies it before the next physics step.
  2. After a frame acknowledged by an action chunk stamped S, the physics goes on only once an answer echoes
     `chunk_ms >= S`: the executor has handled the chunk of that frame (taken it, or refused it, e.g. during its
     soft start). It says so at once with an answer that is no command (its answer to the frame's state stands),
     so the first step after the frame is the same in every run.
  3. Bounded: an answer that does not come within `timeout` wall seconds (a chunk the executor never received, an
     executor that stopped) ends the stepping, counted in `timeouts`; it resumes as soon as a command answers the
     newest state again (`resyncs`). A simulator with no executor answering therefore never waits.
Nothing here changes the robot: it ignores the reserve words, and the executor echoes only when asked.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from dit4dit_ros.g1.lowcmd import CommandEcho, LowCmdSample

LOG = logging.getLogger(__name__)


class CommandStepper:
    """The waiting rule above for one simulated robot. `take()` fetches and applies the commands that arrived;
    `wait(seconds)` blocks until a command is there (g1.dds.DataWaiter; default: a short sleep)."""

    def __init__(self, timeout: float = 0.2, wait: Callable[[float], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not timeout > 0:
            raise ValueError(f"command_step_timeout must be positive wall seconds, got {timeout}")
        self.timeout, self._clock = timeout, clock
        self._wait = wait or (lambda seconds: time.sleep(min(seconds, 0.0002)))
        self.in_step = False
        self.last_echo: CommandEcho | None = None
        self.expected_chunk_ms = 0
        self.published_tick: int | None = None
        self.answered = self.timeouts = self.resyncs = 0
        self.wait_seconds = 0.0

    def expect_chunk(self, stamp: float) -> None:
        """A frame was acknowledged by an action chunk stamped `stamp` (simulation seconds): rule 2."""
        self.expected_chunk_ms = max(self.expected_chunk_ms, round(stamp * 1e3))

    def note(self, samples: Iterable[LowCmdSample]) -> None:
        """Commands just taken: remember the newest echo; an answer to the newest state (re)starts the stepping."""
        for sample in samples:
            if sample.echo is not None and (self.last_echo is None
                                            or sample.echo.state_tick >= self.last_echo.state_tick):
                self.last_echo = sample.echo
        if not self.in_step and self._answers(self.published_tick, chunk=False):
            self.in_step = True
            self.resyncs += 1

    def _answers(self, tick: int | None, chunk: bool = True) -> bool:
        echo = self.last_echo
        return (tick is not None and echo is not None and echo.state_tick >= tick
                and (not chunk or echo.chunk_ms >= self.expected_chunk_ms))

    def wait_for_chunk(self, take: Callable[[], None]) -> bool:
        """After a frame acknowledged by a chunk: wait (bounded) until the executor has handled it (rule 2)."""
        if not self.in_step or not self.expected_chunk_ms:
            return False
        return self._wait_until(lambda: self.last_echo is not None
                                and self.last_echo.chunk_ms >= self.expected_chunk_ms, take,
                                f"the chunk of {self.expected_chunk_ms} ms")

    def after_publish(self, tick: int, take: Callable[[], None]) -> bool:
        """The LowState of `tick` went out: wait (bounded) for its answer, taking commands meanwhile (rule 1)."""
        self.published_tick = tick
        if not self.in_step:
            return False
        return self._wait_until(lambda: self._answers(tick), take, f"an answer to LowState tick {tick}")

    def _wait_until(self, answered: Callable[[], bool], take: Callable[[], None], what: str) -> bool:
        t0 = self._clock()
        deadline = t0 + self.timeout
        while not answered():
            left = deadline - self._clock()
            if left <= 0:
                echo = self.last_echo
                LOG.warning("command stepping paused: no %s within %.2f s (newest answer: tick %s, chunk %s ms)",
                            what, self.timeout, echo and echo.state_tick, echo and echo.chunk_ms)
                self.in_step = False
                self.timeouts += 1
                self.expected_chunk_ms = 0  # that chunk is not coming (rejected or never sent): do not wait again
                self.wait_seconds += self._clock() - t0
                return False
            self._wait(left)
            take()
        self.answered += 1
        self.wait_seconds += self._clock() - t0
        return True

    def counters(self) -> dict[str, float]:
        return {"command_steps": self.answered, "command_step_timeouts": self.timeouts,
                "command_step_resyncs": self.resyncs, "command_step_wait_s": round(self.wait_seconds, 3)}
