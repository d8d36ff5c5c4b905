"""The robot description (URDF) and its frames, generated from the G1 MuJoCo model in use.

There is one robot model (g1/model.py, hands included when the model has them); the URDF that RViz and
robot-description consumers read is derived from it rather than written a second time by hand:
- a link per MuJoCo body under the world (names as in the MJCF, which are Unitree's URDF link names), a revolute
  joint per hinge (axis, limits, effort from the motor's torque range) or a fixed joint for a body without one;
  joint origins are the bodies' poses in their parent at qpos = 0;
- each mesh geom becomes a visual with the geom's pose and a mesh written from MuJoCo's own vertices (MuJoCo
  re-centres the STL files it loads, so the original STLs would sit in the wrong place under the geom's pose);
- the ego camera: `head_camera` (x forward, z up, like the D435 link of Unitree's URDF) on the camera's parent
  body, and `head_camera_optical_frame` (z forward, x right, y down: the ROS optical convention) below it.

`RobotFrames` computes the transform of every joint for a joint vector with MuJoCo's kinematics (the same model),
which is what /tf carries. tests/g1/test_g1_description.py checks the URDF's own kinematics against MuJoCo.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import quoteattr

import numpy as np

from dit4dit_ros.g1.model import HEAD_CAMERA

CAMERA_LINK = HEAD_CAMERA
OPTICAL_FRAME = f"{HEAD_CAMERA}_optical_frame"
# camera link (x forward, z up) -> optical frame (z forward, x right, y down): rpy (-pi/2, 0, -pi/2)
CAMERA_TO_OPTICAL_WXYZ = (0.5, -0.5, 0.5, -0.5)
# MuJoCo camera frame (looks along -z, y up, x right) -> camera link: x_link = -z_cam, y_link = -x_cam, z_link = y_cam
MJ_CAMERA_TO_LINK = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def quat_to_matrix(wxyz: Any) -> np.ndarray:
    w, x, y, z = (float(v) for v in wxyz)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """wxyz, w >= 0."""
    import mujoco

    q = np.empty(4)
    mujoco.mju_mat2Quat(q, np.asarray(r, dtype=np.float64).ravel())
    return q if q[0] >= 0 else -q


def matrix_to_rpy(r: np.ndarray) -> tuple[float, float, float]:
    """URDF roll-pitch-yaw (fixed axes x, y, z) of a rotation matrix."""
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    if abs(r[2, 0]) < 1 - 1e-9:
        return math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])
    return math.atan2(-r[1, 2], r[1, 1]), pitch, 0.0  # gimbal lock: yaw folded into roll


@dataclass(frozen=True)
class FrameTransform:
    """parent -> child: the child's pose in the parent frame."""

    parent: str
    child: str
    xyz: np.ndarray
    wxyz: np.ndarray


def _origin(xyz: Any, rot: np.ndarray) -> str:
    r, p, y = matrix_to_rpy(rot)
    return f'<origin xyz="{xyz[0]:.9g} {xyz[1]:.9g} {xyz[2]:.9g}" rpy="{r:.9g} {p:.9g} {y:.9g}"/>'


class RobotDescription:
    """URDF text and mesh files of the robot bodies of a compiled MuJoCo model (see module docstring)."""

    def __init__(self, model: Any, name: str = "g1") -> None:
        import mujoco

        self.model, self.name, self._mj = model, name, mujoco
        self.bodies = [b for b in range(1, model.nbody)]  # every body under the world
        self.root = model.body(self.bodies[0]).name if self.bodies else ""
        cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, HEAD_CAMERA)
        self.camera = cam if cam >= 0 else None

    def _body_name(self, b: int) -> str:
        return self.model.body(b).name

    def joint_of(self, b: int) -> int | None:
        """The hinge joint moving body b, None for a body welded to its parent."""
        m = self.model
        if m.body_jntnum[b] == 0:
            return None
        if m.body_jntnum[b] > 1 or m.jnt_type[m.body_jntadr[b]] != self._mj.mjtJoint.mjJNT_HINGE:
            raise ValueError(f"body {self._body_name(b)!r}: only one hinge joint per body maps to a URDF joint")
        return int(m.body_jntadr[b])

    def mesh_geoms(self, b: int) -> list[int]:
        return visual_mesh_geoms(self.model, b)

    def mesh_name(self, mesh_id: int) -> str:
        return self.model.mesh(mesh_id).name or f"mesh{mesh_id}"

    def urdf(self, mesh_uri_prefix: str) -> str:
        """The URDF; mesh files are referenced as `<mesh_uri_prefix><mesh name>.stl`."""
        m = self.model
        out = ['<?xml version="1.0"?>', f"<robot name={quoteattr(self.name)}>",
               "  <!-- generated from the MuJoCo model by dit4dit_ros.g1.description; do not edit -->"]
        for b in self.bodies:
            out.append(f"  <link name={quoteattr(self._body_name(b))}>")
            for g in self.mesh_geoms(b):
                rgba = m.geom_rgba[g]
                out += ["    <visual>", "      " + _origin(m.geom_pos[g], quat_to_matrix(m.geom_quat[g])),
                        f'      <geometry><mesh filename="{mesh_uri_prefix}{self.mesh_name(m.geom_dataid[g])}.stl"/></geometry>',
                        f'      <material name=""><color rgba="{rgba[0]:.3g} {rgba[1]:.3g} {rgba[2]:.3g} {rgba[3]:.3g}"/></material>',
                        "    </visual>"]
            if m.body_mass[b] > 0:
                i = m.body_inertia[b]
                out += ["    <inertial>", "      " + _origin(m.body_ipos[b], quat_to_matrix(m.body_iquat[b])),
                        f'      <mass value="{m.body_mass[b]:.9g}"/>',
                        f'      <inertia ixx="{i[0]:.9g}" ixy="0" ixz="0" iyy="{i[1]:.9g}" iyz="0" izz="{i[2]:.9g}"/>',
                        "    </inertial>"]
            out.append("  </link>")
        for b in self.bodies[1:]:
            parent, child = self._body_name(m.body_parentid[b]), self._body_name(b)
            j = self.joint_of(b)
            origin = _origin(m.body_pos[b], quat_to_matrix(m.body_quat[b]))
            if j is None:
                out += [f'  <joint name={quoteattr(child + "_fixed")} type="fixed">', f"    {origin}",
                        f"    <parent link={quoteattr(parent)}/>", f"    <child link={quoteattr(child)}/>", "  </joint>"]
                continue
            # MuJoCo may place the hinge off the body origin (jnt_pos); the G1 MJCF does not, and a URDF cannot.
            if np.linalg.norm(m.jnt_pos[j]) > 1e-9:
                raise ValueError(f"joint {m.joint(j).name!r} is not at its body's origin: no URDF equivalent")
            axis = m.jnt_axis[j]
            lo, hi = m.jnt_range[j] if m.jnt_limited[j] else (-math.pi, math.pi)
            effort = self._effort(j)
            out += [f"  <joint name={quoteattr(m.joint(j).name)} type=\"revolute\">", f"    {origin}",
                    f"    <parent link={quoteattr(parent)}/>", f"    <child link={quoteattr(child)}/>",
                    f'    <axis xyz="{axis[0]:.9g} {axis[1]:.9g} {axis[2]:.9g}"/>',
                    f'    <limit lower="{lo:.9g}" upper="{hi:.9g}" effort="{effort:.9g}" velocity="{self._velocity(j):.9g}"/>',
                    "  </joint>"]
        if self.camera is not None:
            c = self.camera
            link_rot = quat_to_matrix(m.cam_quat[c]) @ MJ_CAMERA_TO_LINK.T
            out += [f"  <link name={quoteattr(CAMERA_LINK)}/>", f"  <link name={quoteattr(OPTICAL_FRAME)}/>",
                    f'  <joint name="{CAMERA_LINK}_joint" type="fixed">', "    " + _origin(m.cam_pos[c], link_rot),
                    f"    <parent link={quoteattr(self._body_name(m.cam_bodyid[c]))}/>",
                    f"    <child link={quoteattr(CAMERA_LINK)}/>", "  </joint>",
                    f'  <joint name="{OPTICAL_FRAME}_joint" type="fixed">',
                    "    " + _origin((0, 0, 0), quat_to_matrix(CAMERA_TO_OPTICAL_WXYZ)),
                    f"    <parent link={quoteattr(CAMERA_LINK)}/>", f"    <child link={quoteattr(OPTICAL_FRAME)}/>",
                    "  </joint>"]
        out.append("</robot>")
        return "\n".join(out) + "\n"

    def _effort(self, j: int) -> float:
        m = self.model
        for a in range(m.nu):
            if m.actuator_trntype[a] == self._mj.mjtTrn.mjTRN_JOINT and m.actuator_trnid[a, 0] == j:
                if m.actuator_ctrllimited[a]:
                    return float(max(abs(m.actuator_ctrlrange[a, 0]), abs(m.actuator_ctrlrange[a, 1])))
        return float(m.jnt_actfrcrange[j, 1]) if m.jnt_actfrclimited[j] else 0.0

    def _velocity(self, j: int) -> float:
        from dit4dit_ros.g1.joints import JOINT_INDEX, G1_JOINTS

        name = self.model.joint(j).name
        return G1_JOINTS[JOINT_INDEX[name]].velocity_limit if name in JOINT_INDEX else 10.0

    def write_meshes(self, directory: Path | str) -> list[Path]:
        """Every mesh the URDF references, as binary STL in the model's (re-centred) mesh frame."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        used = sorted({int(self.model.geom_dataid[g]) for b in self.bodies for g in self.mesh_geoms(b)})
        for mesh_id in used:
            path = directory / f"{self.mesh_name(mesh_id)}.stl"
            vertices, faces = mesh_arrays(self.model, mesh_id)
            write_binary_stl(path, vertices, faces)
            written.append(path)
        return written

    def write(self, directory: Path | str, mesh_uri_prefix: str | None = None) -> Path:
        """URDF + meshes into `directory` (meshes/); URIs default to absolute file:// paths. Returns the URDF path."""
        directory = Path(directory).resolve()
        self.write_meshes(directory / "meshes")
        prefix = mesh_uri_prefix if mesh_uri_prefix is not None else f"file://{directory / 'meshes'}/"
        path = directory / f"{self.name}.urdf"
        path.write_text(self.urdf(prefix))
        return path


def visual_mesh_geoms(model: Any, b: int) -> list[int]:
    """Body b's visual mesh geoms: the non-colliding ones (the MJCF repeats some meshes for collision), or every mesh
    geom of a body that has no separate visual one."""
    import mujoco

    meshes = [g for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b])
              if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
    visual = [g for g in meshes if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0]
    return visual or meshes


def mesh_arrays(model: Any, mesh_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float32, faces (F, 3) int32) of a MuJoCo mesh, in the mesh frame geoms place."""
    v0, nv = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
    f0, nf = model.mesh_faceadr[mesh_id], model.mesh_facenum[mesh_id]
    return model.mesh_vert[v0:v0 + nv].astype(np.float32), model.mesh_face[f0:f0 + nf].astype(np.int32)


def write_binary_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    tri = vertices[faces]  # (F, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, norms, out=np.zeros_like(normals), where=norms > 0)
    records = np.zeros(len(faces), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    records["n"], records["v"] = normals, tri
    with open(path, "wb") as f:
        f.write(b"dit4dit_ros mesh from the MuJoCo model".ljust(80, b" "))
        f.write(struct.pack("<I", len(faces)))
        f.write(records.tobytes())


class RobotFrames:
    """Forward kinematics of the description's joints for given joint positions (MuJoCo on the same model)."""

    def __init__(self, model: Any) -> None:
        import mujoco

        self._mj = mujoco
        self.model = model
        self.data = mujoco.MjData(model)
        self.description = RobotDescription(model)
        self.qpos_adr = {model.joint(j).name: int(model.jnt_qposadr[j]) for j in range(model.njnt)
                         if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE}
        self.moving = [b for b in self.description.bodies[1:] if self.description.joint_of(b) is not None]
        self.fixed = [b for b in self.description.bodies[1:] if self.description.joint_of(b) is None]

    def set_joints(self, positions: Mapping[str, float]) -> list[str]:
        """Pose the model; returns the names it does not know (ignored)."""
        unknown = []
        for name, value in positions.items():
            adr = self.qpos_adr.get(name)
            if adr is None:
                unknown.append(name)
            else:
                self.data.qpos[adr] = value
        self._mj.mj_kinematics(self.model, self.data)
        return unknown

    def _relative(self, b: int) -> FrameTransform:
        m, d = self.model, self.data
        p = m.body_parentid[b]
        rp = d.xmat[p].reshape(3, 3)
        xyz = rp.T @ (d.xpos[b] - d.xpos[p])
        rot = rp.T @ d.xmat[b].reshape(3, 3)
        return FrameTransform(m.body(p).name, m.body(b).name, xyz, matrix_to_quat(rot))

    def moving_transforms(self) -> list[FrameTransform]:
        """parent -> child of every body that a joint moves (/tf), at the last set_joints pose."""
        return [self._relative(b) for b in self.moving]

    def static_transforms(self) -> list[FrameTransform]:
        """Welded bodies and the camera frames (/tf_static); independent of the joints."""
        m = self.model
        out = [FrameTransform(m.body(m.body_parentid[b]).name, m.body(b).name, m.body_pos[b].copy(),
                              np.array(m.body_quat[b])) for b in self.fixed]
        c = self.description.camera
        if c is not None:
            link_rot = quat_to_matrix(m.cam_quat[c]) @ MJ_CAMERA_TO_LINK.T
            out.append(FrameTransform(m.body(m.cam_bodyid[c]).name, CAMERA_LINK, m.cam_pos[c].copy(),
                                      matrix_to_quat(link_rot)))
            out.append(FrameTransform(CAMERA_LINK, OPTICAL_FRAME, np.zeros(3), np.array(CAMERA_TO_OPTICAL_WXYZ)))
        return out
