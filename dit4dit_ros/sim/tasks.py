"""Tabletop tasks: randomized object placement per seed, a success check and the language instruction.

A task only moves objects (cube, target disc) and reads positions; it never touches the robot. Placement is
a pure function of the seed, so `reset(seed)` reproduces an episode exactly. Regions are chosen inside the
right arm's reach from the stand (checked by IK in the tests) and inside the ego camera's view (checked by
projection in the tests): x 0.26..0.36 m in front of the pelvis, y -0.19..-0.02 m (right of the midline), on a
table whose top is at 0.80 m. The head D435 mount looks 47.6 deg down with a 58 deg field of view: a cube further
right than y ~ -0.19 m (at x 0.26) is no longer entirely in the image, and a policy cannot reach what it
cannot see.

- reach: move the right hand (site `right_palm`) within `success_distance` of the cube centre.
- pick_place: bring the block onto the green disc and let go: success when its centre is within the disc radius,
  it rests still on the table, no robot geom touches it and the hand is clear. Its scene has the Dex3-1 hands
  and a ballasted 4.5 x 4.5 x 6 cm block (PickPlaceTask.scene_defaults, task_scene).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from dit4dit_ros.sim.scene import CUBE_BODY, CUBE_JOINT, TARGET_BODY, SceneConfig

HIDDEN_POS = np.array([0.0, 0.0, -1.0])  # where an unused object goes (below the floor, out of view)


@dataclass(frozen=True)
class Region:
    """An axis-aligned rectangle on the table (world x/y, metres)."""

    x: tuple[float, float]
    y: tuple[float, float]

    def __post_init__(self) -> None:
        for name in ("x", "y"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ValueError(f"Region.{name} must be (low, high) with low < high, got {(lo, hi)}")

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(*self.x), rng.uniform(*self.y)])


RIGHT_HAND_REGION = Region(x=(0.26, 0.36), y=(-0.19, -0.02))
PICK_PLACE_REGION = Region(x=(0.26, 0.34), y=(-0.19, -0.05))


@dataclass(frozen=True)
class TaskStatus:
    task: str
    instruction: str
    seed: int
    success: bool
    episode_time: float  # s of simulation since the last reset
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class TaskWorld:
    """What a task may see and move: the objects, sites, and the scene geometry."""

    def __init__(self, model: Any, data: Any, scene: SceneConfig) -> None:
        import mujoco

        self.model, self.data, self.scene = model, data, scene
        self._cube_qadr = int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, CUBE_JOINT)])
        self._cube_dadr = int(model.jnt_dofadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, CUBE_JOINT)])
        self._cube_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, CUBE_BODY)
        self._target_mocap = int(model.body_mocapid[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, TARGET_BODY)])
        pelvis = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
        robot = {pelvis}
        for b in range(model.nbody):  # parents come before children in MuJoCo's body order
            if model.body_parentid[b] in robot:
                robot.add(b)
        self._robot_bodies = frozenset(robot)

    def place_cube(self, xy: np.ndarray, yaw: float = 0.0) -> None:
        """Put the cube at rest on the table at `xy` with heading `yaw` (zero velocity)."""
        pos = np.array([xy[0], xy[1], self.scene.cube_rest_z])
        quat = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
        self.data.qpos[self._cube_qadr:self._cube_qadr + 7] = np.concatenate([pos, quat])
        self.data.qvel[self._cube_dadr:self._cube_dadr + 6] = 0.0

    def cube_pos(self) -> np.ndarray:
        return self.data.qpos[self._cube_qadr:self._cube_qadr + 3].copy()

    def cube_quat(self) -> np.ndarray:
        """The cube's orientation (w, x, y, z)."""
        return self.data.qpos[self._cube_qadr + 3:self._cube_qadr + 7].copy()

    def cube_speed(self) -> float:
        """Linear speed of the cube (m/s)."""
        return float(np.linalg.norm(self.data.qvel[self._cube_dadr:self._cube_dadr + 3]))

    def robot_touches_cube(self) -> bool:
        """Whether any robot geom (a body under the pelvis) is in contact with the cube now."""
        d, m = self.data, self.model
        for i in range(d.ncon):
            b1, b2 = m.geom_bodyid[d.contact[i].geom1], m.geom_bodyid[d.contact[i].geom2]
            if (b1 == self._cube_body and b2 in self._robot_bodies) or (b2 == self._cube_body and b1 in self._robot_bodies):
                return True
        return False

    def place_target(self, xy: np.ndarray | None) -> None:
        """Put the target disc on the table at `xy`, or hide it (None)."""
        pos = HIDDEN_POS if xy is None else np.array([xy[0], xy[1], self.scene.table_height + 0.001])
        self.data.mocap_pos[self._target_mocap] = pos

    def target_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self._target_mocap].copy()

    def hand_site_pos(self) -> np.ndarray | None:
        """World position of the right hand's grasp site (Dex3-1) or palm site (rubber hands)."""
        for name in ("right_grasp", "right_palm"):
            if self._has_site(name):
                return self.site_pos(name)
        return None

    def _has_site(self, name: str) -> bool:
        import mujoco

        return mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name) >= 0

    def site_pos(self, name: str) -> np.ndarray:
        """World position of a site (valid after mj_forward/mj_step)."""
        return self.data.site(name).xpos.copy()


class Task(ABC):
    name: ClassVar[str]
    instruction: ClassVar[str]
    # SceneConfig fields the task needs unless the caller sets them (see task_scene)
    scene_defaults: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    def reset(self, world: TaskWorld, rng: np.random.Generator) -> None:
        """Place the objects for a new episode (the robot is reset by the caller)."""

    @abstractmethod
    def evaluate(self, world: TaskWorld) -> tuple[bool, dict]:
        """(success, metrics) for the current state (call after mj_forward/mj_step)."""


@dataclass
class ReachTask(Task):
    name: ClassVar[str] = "reach"
    instruction: ClassVar[str] = "touch the red cube with the right hand"
    region: Region = RIGHT_HAND_REGION
    success_distance: float = 0.06  # m between the right_palm site and the cube centre (cube half size 0.025)

    def reset(self, world: TaskWorld, rng: np.random.Generator) -> None:
        world.place_cube(self.region.sample(rng), yaw=float(rng.uniform(-np.pi / 4, np.pi / 4)))
        world.place_target(None)

    def evaluate(self, world: TaskWorld) -> tuple[bool, dict]:
        distance = float(np.linalg.norm(world.site_pos("right_palm") - world.cube_pos()))
        return distance < self.success_distance, {"hand_cube_distance": round(distance, 4)}


@dataclass
class PickPlaceTask(Task):
    name: ClassVar[str] = "pick_place"
    instruction: ClassVar[str] = "put the red cube on the green disc"
    # Grasped with a Dex3-1 hand: a 4.5 x 4.5 x 6 cm block (tall enough for the side grasp's fingers above the
    # table), 50 g plus 50 g of ballast in its bottom third so that a placed block stands.
    scene_defaults: ClassVar[dict[str, Any]] = {"hands": "dex3", "cube_half_size": 0.0225, "cube_half_height": 0.03,
                                                "cube_mass": 0.05, "cube_ballast": 0.05}
    # Inside RIGHT_HAND_REGION, away from the midline and the far edge: there the right hand cannot hold the side
    # grasp's orientation without the elbow pressing into the torso (sim/pick_expert.py JOINT_BOUNDS).
    region: Region = PICK_PLACE_REGION
    min_separation: float = 0.07  # m between block and disc centres at reset (> the disc radius: not placed yet)
    rest_tolerance: float = 0.01  # m: the cube counts as placed only when it rests on the table
    rest_speed: float = 0.02  # m/s: ... and is (nearly) still
    hand_clearance: float = 0.06  # m between the right hand's grasp site and the cube centre after release

    def reset(self, world: TaskWorld, rng: np.random.Generator) -> None:
        cube = self.region.sample(rng)
        for _ in range(100):  # bounded rejection sampling; the region is large enough to succeed quickly
            target = self.region.sample(rng)
            if np.linalg.norm(target - cube) >= self.min_separation:
                break
        else:
            raise RuntimeError(f"could not place the target {self.min_separation} m from the cube in {self.region}")
        world.place_cube(cube, yaw=float(rng.uniform(-np.pi / 4, np.pi / 4)))
        world.place_target(target)

    def evaluate(self, world: TaskWorld) -> tuple[bool, dict]:
        """Success: the cube rests (on the table, still) inside the disc, released, and the hand is clear of it."""
        cube, target = world.cube_pos(), world.target_pos()
        planar = float(np.linalg.norm(cube[:2] - target[:2]))
        resting = abs(cube[2] - world.scene.cube_rest_z) < self.rest_tolerance and world.cube_speed() < self.rest_speed
        released = not world.robot_touches_cube()
        hand = world.hand_site_pos()
        clearance = float(np.linalg.norm(hand - cube)) if hand is not None else float("inf")
        success = planar < world.scene.target_radius and resting and released and clearance > self.hand_clearance
        return success, {"cube_target_distance": round(planar, 4), "cube_resting": bool(resting),
                         "cube_released": bool(released), "hand_cube_distance": round(clearance, 4),
                         "cube_height": round(float(cube[2] - world.scene.table_height), 4)}


TASKS: dict[str, type[Task]] = {ReachTask.name: ReachTask, PickPlaceTask.name: PickPlaceTask}


def task_scene(task: str, **overrides: Any) -> SceneConfig:
    """The scene a task is meant for (its scene_defaults), with `overrides` on top (e.g. hands='none')."""
    if task not in TASKS:
        raise ValueError(f"unknown sim task {task!r}; expected one of {sorted(TASKS)}")
    return SceneConfig(**{**TASKS[task].scene_defaults, **overrides})


def make_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown sim task {name!r}; expected one of {sorted(TASKS)}") from None
