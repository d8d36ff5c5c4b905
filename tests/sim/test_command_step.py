"""Command-stepped simulation (sim/command_step.py): after each LowState the physics waits for the executor's
answer to it; after a frame acknowledged by a chunk, for the executor to have handled that chunk. Commands are
real LowCmd_ bytes through the project's codec; time is a counter, so nothing here depends on the machine's load."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.g1.lowcmd import CommandEcho, ControlPath, MotorCommand, decode_lowcmd_cdr, encode_lowcmd_cdr
from dit4dit_ros.sim.command_step import CommandStepper


def _command(tick: int, chunk_ms: int = 0, answer_only: bool = False):
    cmd = MotorCommand.hold(np.zeros(29))
    payload = encode_lowcmd_cdr(cmd, 5, path=ControlPath.ARM_SDK, arm_sdk_weight=1.0,
                                echo=CommandEcho(tick, chunk_ms, answer_only))
    return decode_lowcmd_cdr(payload)


class Wire:
    """Commands that 'arrive' after a number of waits (the executor's latency, counted in polls)."""

    def __init__(self, stepper: CommandStepper) -> None:
        self.stepper, self.queue, self.polls, self.now = stepper, [], 0, 0.0

    def send(self, sample, after_polls: int = 0) -> None:
        self.queue.append((self.polls + after_polls, sample))

    def take(self) -> None:
        due = [s for at, s in self.queue if at <= self.polls]
        self.queue = [(at, s) for at, s in self.queue if at > self.polls]
        self.stepper.note(due)

    def wait(self, seconds: float) -> None:
        self.polls += 1
        self.now += 0.001

    def clock(self) -> float:
        return self.now


def _stepper(timeout: float = 0.05) -> tuple[CommandStepper, Wire]:
    box: list[Wire] = []
    stepper = CommandStepper(timeout, wait=lambda s: box[0].wait(s), clock=lambda: box[0].clock())
    box.append(Wire(stepper))
    return stepper, box[0]


def test_each_state_waits_for_its_own_answer_once_the_executor_answers():
    stepper, wire = _stepper()
    assert not stepper.after_publish(2, wire.take)  # nobody has answered yet: no wait, no timeout
    wire.send(_command(2))
    wire.take()  # the answer to tick 2 arrives: the stepping starts
    assert stepper.in_step and stepper.resyncs == 1
    for tick in range(4, 40, 2):
        wire.send(_command(tick - 2), 0)  # a late duplicate of an older answer does not count
        wire.send(_command(tick), after_polls=3)  # the answer comes three polls later
        polls = wire.polls
        assert stepper.after_publish(tick, wire.take)
        assert wire.polls - polls == 3 and stepper.last_echo.state_tick == tick
    assert stepper.timeouts == 0 and stepper.answered == 18


def test_after_a_chunk_ack_the_physics_waits_until_the_executor_handled_that_chunk():
    stepper, wire = _stepper()
    stepper.after_publish(800, wire.take)
    wire.send(_command(800, chunk_ms=400))
    wire.take()
    assert stepper.in_step
    stepper.expect_chunk(0.8)  # the frame of 800 ms was acknowledged by its chunk
    wire.send(_command(800, chunk_ms=800, answer_only=True), after_polls=5)  # handled (taken or refused)
    polls = wire.polls
    assert stepper.wait_for_chunk(wire.take) and wire.polls - polls == 5
    # the next state's answer must carry the chunk too: an answer that lacks it is not the answer
    wire.send(_command(802, chunk_ms=400))
    wire.send(_command(802, chunk_ms=800), after_polls=2)
    assert stepper.after_publish(802, wire.take) and stepper.last_echo.chunk_ms == 800


def test_no_answer_within_the_timeout_pauses_the_stepping_until_the_executor_answers_again():
    stepper, wire = _stepper(timeout=0.01)
    stepper.after_publish(2, wire.take)
    wire.send(_command(2))
    wire.take()
    assert not stepper.after_publish(4, wire.take)  # the executor stopped: ten polls, then on without it
    assert stepper.timeouts == 1 and not stepper.in_step
    polls = wire.polls
    assert not stepper.after_publish(6, wire.take) and wire.polls == polls  # out of step: no more waiting
    wire.send(_command(6))
    wire.take()
    assert stepper.in_step and stepper.resyncs == 2
    wire.send(_command(8), after_polls=1)
    assert stepper.after_publish(8, wire.take)


def test_answer_only_echoes_round_trip_and_the_timeout_is_validated():
    sample = _command(123, 456, answer_only=True)
    assert sample.echo == CommandEcho(123, 456, True)
    assert _command(7).echo == CommandEcho(7, 0, False)
    with pytest.raises(ValueError, match="command_step_timeout"):
        CommandStepper(0.0)
