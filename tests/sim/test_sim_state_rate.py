"""LowState rate on simulated time: any rate up to the 500 Hz physics, 200 Hz like Unitree's own simulator."""
from __future__ import annotations

import pytest

from dit4dit_ros.sim.loop import LoopConfig, NullSink, SimLoop
from dit4dit_ros.sim.robot import SimRobot, SimRobotConfig


class _Counter(NullSink):
    def __init__(self, loop_holder: list, until: float) -> None:
        self.times: list[float] = []
        self._holder, self._until = loop_holder, until

    def on_state(self, robot: SimRobot) -> None:
        self.times.append(robot.time)
        if robot.time >= self._until:
            self._holder[0].stop()


@pytest.fixture(scope="module")
def robot():
    return SimRobot(SimRobotConfig(task="reach"))


@pytest.mark.parametrize("rate", [500.0, 250.0, 200.0, 30.0])
def test_states_per_simulated_second_match_the_rate(robot, rate):
    holder: list = []
    counter = _Counter(holder, until=robot.time + 1.0 - 1e-9)
    loop = SimLoop(robot, LoopConfig(state_rate_hz=rate, real_time_factor=0.0, camera=None, clock_rate_hz=0.0,
                                     task_rate_hz=0.0), sinks=[counter])
    holder.append(loop)
    start = robot.time
    loop.run(duration=60.0)
    span = counter.times[-1] - start
    assert len(counter.times) == pytest.approx(rate * span, abs=1.0)
    gaps = [b - a for a, b in zip(counter.times, counter.times[1:])]
    assert max(gaps) <= 1.0 / rate + robot.dt + 1e-9  # never more than one physics step late


def test_a_rate_above_the_physics_rate_is_refused(robot):
    with pytest.raises(ValueError, match="exceeds the physics rate"):
        SimLoop(robot, LoopConfig(state_rate_hz=1000.0, camera=None))
