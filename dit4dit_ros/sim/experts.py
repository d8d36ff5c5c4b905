"""The scripted expert of each sim task (its own module so that the experts import their helpers one way)."""
from __future__ import annotations

from dit4dit_ros.sim.expert import ReachExpert
from dit4dit_ros.sim.pick_expert import PickPlaceExpert

EXPERTS = {"reach": ReachExpert, "pick_place": PickPlaceExpert}


def make_expert(task: str, robot, config=None):
    """The scripted expert of `task` planned for the robot's current reset."""
    try:
        cls = EXPERTS[task]
    except KeyError:
        raise ValueError(f"no scripted expert for task {task!r}; expected one of {sorted(EXPERTS)}") from None
    return cls(robot, config)
