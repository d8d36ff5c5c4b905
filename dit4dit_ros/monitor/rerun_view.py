"""The robot and its world in Rerun, from a MuJoCo model: meshes once, body poses over time (ROS-free).

Entity tree (what a person browses in the viewer):
  /world/g1/<link>                 the robot's links (Transform3D in the world), meshes under .../visual_<k>
  /world/g1/<camera body>/head_camera   the ego camera: pinhole frustum + the image the policy saw
  /world/scene/<body>              everything else of the model (table, cube, target) when the model has it
  /world/g1/pelvis/predicted_paths predicted palm paths of each action chunk
  /plots/...                       time series (distance, inference latency, commanded vs measured joints, rates)
  /log/...                         text: episodes, executor mode and events
Poses come from MuJoCo's kinematics of the same model the simulator (or the robot description) uses, so a recording
shows exactly the configuration the joints describe.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from dit4dit_ros.g1.model import HEAD_CAMERA, PELVIS_BODY

ROBOT_ROOT = "/world/g1"
SCENE_ROOT = "/world/scene"


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted per-vertex normals (smooth shading in the viewer)."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, norms, out=np.zeros_like(normals), where=norms > 0).astype(np.float32)


class RerunRobotView:
    """Logs a MuJoCo model's bodies into a Rerun recording stream; `pose()` sets joints and objects, `log_poses()`
    writes the current body poses at the stream's current time."""

    def __init__(self, rec: Any, model: Any, robot_root_body: str = PELVIS_BODY) -> None:
        import mujoco

        self._mj, self.rec, self.model = mujoco, rec, model
        self.data = mujoco.MjData(model)
        root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, robot_root_body)
        if root < 0:
            raise ValueError(f"the model has no body {robot_root_body!r} to root the robot at")
        self.robot_bodies = {b for b in range(1, model.nbody) if self._is_under(b, root)}
        self.paths = {b: self._path(b) for b in range(1, model.nbody)}
        self.qpos_adr = {model.joint(j).name: int(model.jnt_qposadr[j]) for j in range(model.njnt)
                         if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE}
        self.free_adr = {model.body(model.jnt_bodyid[j]).name: int(model.jnt_qposadr[j]) for j in range(model.njnt)
                         if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE}
        self.mocap = {model.body(b).name: int(model.body_mocapid[b]) for b in range(model.nbody)
                      if model.body_mocapid[b] >= 0}
        cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, HEAD_CAMERA)
        self.camera = cam if cam >= 0 else None
        mujoco.mj_kinematics(model, self.data)

    def _is_under(self, b: int, root: int) -> bool:
        while b > 0:
            if b == root:
                return True
            b = int(self.model.body_parentid[b])
        return False

    def _path(self, b: int) -> str:
        root = ROBOT_ROOT if b in self.robot_bodies else SCENE_ROOT
        return f"{root}/{self.model.body(b).name or f'body{b}'}"

    @property
    def camera_path(self) -> str | None:
        if self.camera is None:
            return None
        return f"{self.paths[int(self.model.cam_bodyid[self.camera])]}/{HEAD_CAMERA}"

    # ---- static content ---------------------------------------------------------------------------------------
    def log_static(self, image_size: tuple[int, int] | None = None) -> None:
        """Meshes and primitive shapes of every body, the camera frustum (image_size = (H, W) of the ego image)."""
        import rerun as rr

        from dit4dit_ros.g1.description import mesh_arrays, visual_mesh_geoms

        m, mj = self.model, self._mj
        self.rec.log("/world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        meshes: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for b in range(1, m.nbody):
            visual = set(visual_mesh_geoms(m, b))
            for k, g in enumerate(range(m.body_geomadr[b], m.body_geomadr[b] + m.body_geomnum[b])):
                kind = m.geom_type[g]
                path = f"{self.paths[b]}/geom_{k}"
                rgba = (np.clip(m.geom_rgba[g], 0, 1) * 255).astype(np.uint8)
                pose = rr.Transform3D(translation=m.geom_pos[g], quaternion=rr.Quaternion(xyzw=np.roll(m.geom_quat[g], -1)))
                if kind == mj.mjtGeom.mjGEOM_MESH:
                    if g not in visual:
                        continue  # collision copies of the visual meshes
                    mesh_id = int(m.geom_dataid[g])
                    if mesh_id not in meshes:
                        v, f = mesh_arrays(m, mesh_id)
                        meshes[mesh_id] = (v, f, vertex_normals(v, f))
                    v, f, n = meshes[mesh_id]
                    self.rec.log(path, pose, rr.Mesh3D(vertex_positions=v, triangle_indices=f, vertex_normals=n,
                                                       albedo_factor=rgba), static=True)
                elif kind == mj.mjtGeom.mjGEOM_BOX and b not in self.robot_bodies:
                    self.rec.log(path, pose, rr.Boxes3D(half_sizes=[m.geom_size[g]], colors=[rgba],
                                                        fill_mode="solid"), static=True)
                elif kind == mj.mjtGeom.mjGEOM_CYLINDER and b not in self.robot_bodies:
                    self.rec.log(path, pose, rr.Cylinders3D(lengths=[2 * m.geom_size[g][1]], radii=[m.geom_size[g][0]],
                                                            colors=[rgba], fill_mode="solid"), static=True)
        if image_size is not None:
            self.log_camera(image_size)

    def log_camera(self, image_size: tuple[int, int]) -> None:
        """The ego camera's optical frame and pinhole (the frustum), for images of `image_size` = (H, W)."""
        import rerun as rr

        from dit4dit_ros.g1.description import CAMERA_TO_OPTICAL_WXYZ, MJ_CAMERA_TO_LINK, matrix_to_quat, quat_to_matrix

        m, c = self.model, self.camera
        if c is None:
            return
        optical = quat_to_matrix(m.cam_quat[c]) @ MJ_CAMERA_TO_LINK.T @ quat_to_matrix(CAMERA_TO_OPTICAL_WXYZ)
        h, w = image_size
        f = (h / 2.0) / np.tan(np.radians(m.cam_fovy[c]) / 2.0)
        self.rec.log(self.camera_path,
                     rr.Transform3D(translation=m.cam_pos[c], quaternion=rr.Quaternion(xyzw=np.roll(matrix_to_quat(optical), -1))),
                     rr.Pinhole(focal_length=float(f), width=w, height=h, camera_xyz=rr.ViewCoordinates.RDF,
                                image_plane_distance=0.25), static=True)

    # ---- poses over time ----------------------------------------------------------------------------------------
    def pose(self, joints: Mapping[str, float],
             objects: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> list[str]:
        """Set joint positions (by name) and object poses ((xyz, wxyz) by body name); returns the unknown names."""
        unknown = []
        for name, value in joints.items():
            adr = self.qpos_adr.get(name)
            if adr is None:
                unknown.append(name)
            else:
                self.data.qpos[adr] = value
        for name, (xyz, wxyz) in (objects or {}).items():
            if name in self.free_adr:
                a = self.free_adr[name]
                self.data.qpos[a:a + 3], self.data.qpos[a + 3:a + 7] = xyz, wxyz
            elif name in self.mocap:
                self.data.mocap_pos[self.mocap[name]], self.data.mocap_quat[self.mocap[name]] = xyz, wxyz
            else:
                unknown.append(name)
        self._mj.mj_kinematics(self.model, self.data)
        return unknown

    def log_poses(self) -> None:
        import rerun as rr

        d = self.data
        for b, path in self.paths.items():
            self.rec.log(path, rr.Transform3D(translation=d.xpos[b], quaternion=rr.Quaternion(xyzw=np.roll(d.xquat[b], -1))))

    def log_ego_image(self, image: np.ndarray) -> None:
        import rerun as rr

        if self.camera_path is not None:
            self.rec.log(self.camera_path, rr.Image(image))


def world_view(**options):
    """The 3D view of /world, looking at the robot from its front right above the table (x forward, z up)."""
    import rerun.blueprint as rrb

    eye = rrb.EyeControls3D(position=(1.6, -1.3, 1.6), look_target=(0.2, 0.0, 0.9), eye_up=(0.0, 0.0, 1.0))
    return rrb.Spatial3DView(name="world", origin="/world", eye_controls=eye, **options)


def default_blueprint(with_scene_camera: bool = True):
    """The layout a viewer opens with: the 3D world large on the left; the camera views, plots and logs beside it."""
    import rerun.blueprint as rrb

    side = [rrb.Spatial2DView(name="ego camera", origin=f"{ROBOT_ROOT}/torso_link/{HEAD_CAMERA}")]
    if with_scene_camera:
        side.append(rrb.Spatial2DView(name="scene camera", origin="/camera/scene"))
    side += [rrb.TimeSeriesView(name="plots", origin="/plots"), rrb.TextLogView(name="log", origin="/log")]
    world = world_view()
    return rrb.Blueprint(rrb.Horizontal(world, rrb.Vertical(*side), column_shares=[3, 2]), collapse_panels=True)
