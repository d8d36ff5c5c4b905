"""The simulated scene: the G1 of dit4dit_ros.g1.model on a stand, a table in front of it, a cube, a target.

The robot itself (Unitree's MJCF, fixed base, palm sites, head camera) comes from g1/model.py; this module only
adds the world around it: a table (top slab + legs, so that the knees fit under it), a free red cube, a green
target disc (a mocap body: tasks move it at reset), a stand post and the lights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.model import DEFAULT_CAMERA_FOVY_DEG, build_robot_spec
from dit4dit_ros.g1.timing import CONTROL_PERIOD

CUBE_BODY = "cube"
CUBE_JOINT = "cube_joint"
TARGET_BODY = "target"


@dataclass(frozen=True)
class SceneConfig:
    """Geometry of the tabletop scene (metres, world frame: x forward from the robot, z up, pelvis at x=y=0)."""

    timestep: float = CONTROL_PERIOD  # one physics step per motor PD update, like the robot
    table_height: float = 0.80  # top surface; the pelvis is at 0.793, shoulders at ~1.085
    table_near_x: float = 0.20  # edge closest to the robot
    table_depth: float = 0.50
    table_width: float = 1.00
    table_thickness: float = 0.04
    cube_half_size: float = 0.025
    cube_mass: float = 0.05
    target_radius: float = 0.05
    camera_fovy_deg: float = DEFAULT_CAMERA_FOVY_DEG

    def __post_init__(self) -> None:
        if not 0 < self.timestep <= 0.01:
            raise ValueError(f"SceneConfig.timestep must be in (0, 0.01] s, got {self.timestep}")
        for name in ("table_height", "table_depth", "table_width", "table_thickness", "cube_half_size", "cube_mass",
                     "target_radius"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SceneConfig.{name} must be positive, got {getattr(self, name)}")
        if self.table_near_x < 0.15:
            raise ValueError(f"SceneConfig.table_near_x must be >= 0.15 m (the pelvis is in the way), got {self.table_near_x}")
        if not 10.0 <= self.camera_fovy_deg <= 120.0:
            raise ValueError(f"SceneConfig.camera_fovy_deg must be in [10, 120], got {self.camera_fovy_deg}")

    @property
    def table_center_xy(self) -> tuple[float, float]:
        return (self.table_near_x + self.table_depth / 2.0, 0.0)

    @property
    def cube_rest_z(self) -> float:
        """Height of the cube centre when it rests on the table."""
        return self.table_height + self.cube_half_size


def build_spec(config: SceneConfig | None = None):
    """The scene as a mujoco.MjSpec (compile it with `.compile()`)."""
    import mujoco

    cfg = config or SceneConfig()
    spec = build_robot_spec(cfg.timestep, cfg.camera_fovy_deg)

    world = spec.worldbody
    box = mujoco.mjtGeom.mjGEOM_BOX
    cx, cy = cfg.table_center_xy
    top_z = cfg.table_height - cfg.table_thickness / 2.0
    table = world.add_body(name="table", pos=[cx, cy, 0.0])
    table.add_geom(name="table_top", type=box, pos=[0, 0, top_z],
                   size=[cfg.table_depth / 2, cfg.table_width / 2, cfg.table_thickness / 2], rgba=[0.62, 0.47, 0.33, 1])
    leg_h = (cfg.table_height - cfg.table_thickness) / 2.0
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        table.add_geom(name=f"table_leg{i}", type=box, size=[0.02, 0.02, leg_h], rgba=[0.4, 0.3, 0.2, 1],
                       pos=[sx * (cfg.table_depth / 2 - 0.03), sy * (cfg.table_width / 2 - 0.03), leg_h])
    # The stand: a post behind the robot (visual only) so that images show what holds the robot up.
    world.add_geom(name="stand_post", type=box, pos=[-0.18, 0, 0.45], size=[0.02, 0.02, 0.45], rgba=[0.3, 0.3, 0.3, 1],
                   contype=0, conaffinity=0)

    cube = world.add_body(name=CUBE_BODY, pos=[cx - 0.1, -0.15, cfg.cube_rest_z])
    cube.add_freejoint(name=CUBE_JOINT)
    cube.add_geom(name="cube_geom", type=box, size=[cfg.cube_half_size] * 3, mass=cfg.cube_mass,
                  rgba=[0.85, 0.1, 0.1, 1], friction=[1.0, 0.01, 0.001])

    target = world.add_body(name=TARGET_BODY, mocap=True, pos=[cx - 0.1, 0.1, cfg.table_height + 0.001])
    target.add_geom(name="target_geom", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[cfg.target_radius, 0.001, 0],
                    rgba=[0.1, 0.7, 0.2, 1], contype=0, conaffinity=0)

    world.add_light(name="table_light", pos=[cx, 0, 2.5], dir=[0, 0, -1], castshadow=0, diffuse=[0.25, 0.25, 0.25])
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]  # the shipped 0.6 + scene lights saturate the table
    return spec


def build_model(config: SceneConfig | None = None):
    """The compiled scene (mujoco.MjModel)."""
    return build_spec(config).compile()


def camera_intrinsics(width: int, height: int, fovy_deg: float) -> np.ndarray:
    """The 3x3 pinhole matrix K of a MuJoCo camera (square pixels, principal point at the image centre)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    f = (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
