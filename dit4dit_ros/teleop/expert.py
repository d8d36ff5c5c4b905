"""The simulator's scripted expert as a teleop source: a demonstrator that needs no operator.

The simulator publishes its task status (task, seed, episode time: key/values on /dit4dit/sim/task) but not the object
poses. Task resets are deterministic in the seed, so this source rebuilds the same task state in a private
SimRobot (same default scene, reset with the same seed), plans the scripted expert on it
(dit4dit_ros.sim.expert) and answers the arm targets at the simulator's episode time. It therefore assumes the
simulator runs the default scene; another scene would need the same SceneConfig here.

What is sent: with `gravity_offset=False` the IK joint positions (for an executor that sends arm gravity
feed-forward torque); with True (default) the expert's offset commands q + g(q)/kp (for an executor
without arm feed-forward, as config/g1_sim.yaml runs it; the PD equilibrium is then the IK pose).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dit4dit_ros.g1.joints import ARMS
from dit4dit_ros.teleop.target import TeleopTarget


@dataclass(frozen=True)
class TaskUpdate:
    """The fields of the simulator's task status this source uses."""

    task: str
    seed: int
    episode_time: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "TaskUpdate":
        """From the task status's key/values (strings or typed values)."""
        try:
            return cls(str(values["task"]), int(values["seed"]), float(values["episode_time"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"task status lacks task, seed or episode_time: {dict(values)!r} ({exc})") from None


class ExpertSource:
    """Plans the expert for each new episode of the simulator and gives its arm targets over time."""

    def __init__(self, gravity_offset: bool = True, expert_config=None) -> None:
        self.gravity_offset = gravity_offset
        self.expert_config = expert_config
        self._robot = None
        self._task: str | None = None
        self.expert = None
        self.episode: tuple[str, int] | None = None
        self._start: float | None = None  # local clock time of episode time 0
        self._last_episode_time = float("inf")

    def update(self, status: TaskUpdate, now: float) -> bool:
        """Take a task status received at `now` (local clock). Returns True when a new plan was made."""
        new_episode = (status.task, status.seed) != self.episode or status.episode_time < self._last_episode_time - 1e-6
        self._last_episode_time = status.episode_time
        if not new_episode:
            return False
        from dit4dit_ros.sim.experts import make_expert
        from dit4dit_ros.sim.robot import SimRobot, SimRobotConfig

        if self._robot is None or self._task != status.task:
            self._robot = SimRobot(SimRobotConfig(task=status.task))  # raises for an unknown task
            self._task = status.task
        self._robot.reset(status.seed)
        self.expert = make_expert(status.task, self._robot, self.expert_config)  # ValueError: no expert
        self.episode = (status.task, status.seed)
        self._start = now - status.episode_time
        return True

    @property
    def ready(self) -> bool:
        return self.expert is not None

    def elapsed(self, now: float) -> float:
        return 0.0 if self._start is None else max(0.0, now - self._start)

    def finished(self, now: float) -> bool:
        return self.expert is not None and self.elapsed(now) >= self.expert.duration

    def target_at(self, now: float) -> TeleopTarget | None:
        """ARMS targets at local time `now` (None before the first task status)."""
        if self.expert is None:
            return None
        t = self.elapsed(now)
        q = self.expert.command(t) if self.gravity_offset else self.expert.planned(t)
        return TeleopTarget(ARMS, q)
