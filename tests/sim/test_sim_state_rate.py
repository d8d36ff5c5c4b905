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


class _Statuses(NullSink):
    """Task statuses in order; asks for a reset at a simulated time off the status grid."""

    def __init__(self, loop_holder: list, reset_at: float, until: float) -> None:
        self.statuses: list = []
        self._holder, self._reset_at, self._until, self._asked = loop_holder, reset_at, until, False

    def on_state(self, robot: SimRobot) -> None:
        if not self._asked and robot.time >= self._reset_at:
            self._asked = True
            robot.request_reset(7, timeout=0.0)
        if robot.time >= self._until:
            self._holder[0].stop()

    def on_task(self, status) -> None:
        self.statuses.append(status)


def test_task_statuses_fall_on_the_episode_grid_after_a_reset_off_the_grid(robot):
    """The statuses of an episode come every task period of *episode* time, wherever its reset fell: a graph
    evaluation ends an episode on them, so another reset step must not move them (0.066, 0.166, ... against
    0.1, 0.2, ... in one CI run)."""
    holder: list = []
    sink = _Statuses(holder, reset_at=robot.time + 0.134, until=robot.time + 1.0)
    loop = SimLoop(robot, LoopConfig(state_rate_hz=500.0, real_time_factor=0.0, camera=None, clock_rate_hz=0.0,
                                     task_rate_hz=10.0), sinks=[sink])
    holder.append(loop)
    loop.run(duration=60.0)
    episode = [s.episode_time for s in sink.statuses if s.seed == 7]
    assert len(episode) >= 5, episode
    assert episode[0] == pytest.approx(0.0, abs=robot.dt + 1e-9)  # the reset's own status
    later = episode[1:]
    assert all(abs(t / 0.1 - round(t / 0.1)) < 1e-6 for t in later), later
