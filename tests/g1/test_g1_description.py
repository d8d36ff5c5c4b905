"""The generated robot description: the URDF's own kinematics match MuJoCo's body and camera poses."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dit4dit_ros.g1.description import (OPTICAL_FRAME, RobotDescription, RobotFrames, quat_to_matrix)
from dit4dit_ros.g1.model import HEAD_CAMERA, build_robot_model

pytestmark = pytest.mark.sim


def _rpy_matrix(r: float, p: float, y: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def urdf_forward_kinematics(urdf: str, q: dict[str, float]) -> dict[str, np.ndarray]:
    """4x4 pose of every link in the root link's frame, computed from the URDF text alone (an independent reading)."""
    root = ET.fromstring(urdf)
    joints = {j.find("child").get("link"): j for j in root.findall("joint")}
    links = [link.get("name") for link in root.findall("link")]
    poses: dict[str, np.ndarray] = {}

    def pose(link: str) -> np.ndarray:
        if link in poses:
            return poses[link]
        j = joints.get(link)
        if j is None:
            poses[link] = np.eye(4)
            return poses[link]
        origin = j.find("origin")
        t = np.eye(4)
        t[:3, :3] = _rpy_matrix(*map(float, origin.get("rpy").split()))
        t[:3, 3] = list(map(float, origin.get("xyz").split()))
        if j.get("type") == "revolute":
            m = np.eye(4)
            m[:3, :3] = _axis_angle(np.array(list(map(float, j.find("axis").get("xyz").split()))), q.get(j.get("name"), 0.0))
            t = t @ m
        poses[link] = pose(j.find("parent").get("link")) @ t
        return poses[link]

    return {link: pose(link) for link in links}


@pytest.fixture(scope="module")
def model():
    return build_robot_model()


def test_urdf_link_poses_match_mujoco_body_poses(model):
    import mujoco

    description = RobotDescription(model)
    urdf = description.urdf("package://dit4dit_ros/description/meshes/")
    tree = ET.fromstring(urdf)
    hinge_names = [model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    assert {j.get("name") for j in tree.findall("joint") if j.get("type") == "revolute"} == set(hinge_names)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    root = model.body(1).name
    for trial in range(4):
        q = {}
        for j in range(model.njnt):
            if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
                lo, hi = model.jnt_range[j]
                q[model.joint(j).name] = float(rng.uniform(lo, hi)) if trial else 0.0
                data.qpos[model.jnt_qposadr[j]] = q[model.joint(j).name]
        mujoco.mj_forward(model, data)  # camera poses need more than mj_kinematics
        fk = urdf_forward_kinematics(urdf, q)
        r0, p0 = data.xmat[1].reshape(3, 3), data.xpos[1]
        for b in range(1, model.nbody):
            want_rot, want_pos = r0.T @ data.xmat[b].reshape(3, 3), r0.T @ (data.xpos[b] - p0)
            got = fk[model.body(b).name]
            np.testing.assert_allclose(got[:3, 3], want_pos, atol=1e-6, err_msg=model.body(b).name)
            np.testing.assert_allclose(got[:3, :3], want_rot, atol=1e-6, err_msg=model.body(b).name)
        # the ego camera: the optical frame looks along the MuJoCo camera's -z, with +y down (image rows)
        c = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, HEAD_CAMERA)
        cam_rot = r0.T @ data.cam_xmat[c].reshape(3, 3)
        optical = fk[OPTICAL_FRAME]
        np.testing.assert_allclose(optical[:3, 3], r0.T @ (data.cam_xpos[c] - p0), atol=1e-6)
        np.testing.assert_allclose(optical[:3, :3], cam_rot @ np.diag([1.0, -1.0, -1.0]), atol=1e-6)
    assert root == "pelvis"


def test_tf_frames_compose_to_the_mujoco_poses(model):
    """/tf + /tf_static (RobotFrames) chained from the root give MuJoCo's body poses, for a random pose."""
    import mujoco

    frames = RobotFrames(model)
    rng = np.random.default_rng(1)
    q = {name: float(rng.uniform(-0.5, 0.5)) for name in frames.qpos_adr}
    assert frames.set_joints({**q, "no_such_joint": 1.0}) == ["no_such_joint"]
    transforms = {t.child: t for t in frames.moving_transforms() + frames.static_transforms()}
    assert len(transforms) == model.nbody - 2 + 2  # every body but world and root, plus the two camera frames
    data = mujoco.MjData(model)
    for name, adr in frames.qpos_adr.items():
        data.qpos[adr] = q[name]
    mujoco.mj_kinematics(model, data)

    def chain(frame: str) -> np.ndarray:
        if frame not in transforms:
            return np.eye(4)
        t = transforms[frame]
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = quat_to_matrix(t.wxyz), t.xyz
        return chain(t.parent) @ m

    r0, p0 = data.xmat[1].reshape(3, 3), data.xpos[1]
    for b in range(2, model.nbody):
        got = chain(model.body(b).name)
        np.testing.assert_allclose(got[:3, 3], r0.T @ (data.xpos[b] - p0), atol=1e-9)
        np.testing.assert_allclose(got[:3, :3], r0.T @ data.xmat[b].reshape(3, 3), atol=1e-9)
    moving = {t.child for t in frames.moving_transforms()}
    assert "right_elbow_link" in moving and "head_camera" not in moving


def test_meshes_are_written_and_referenced(model, tmp_path):
    description = RobotDescription(model)
    urdf_path = description.write(tmp_path)
    tree = ET.fromstring(urdf_path.read_text())
    files = {m.get("filename") for m in tree.iter("mesh")}
    assert files and all(f.startswith(f"file://{tmp_path.resolve()}/meshes/") for f in files)
    for uri in files:
        path = uri.removeprefix("file://")
        data = open(path, "rb").read()
        count = int.from_bytes(data[80:84], "little")
        assert count > 0 and len(data) == 84 + 50 * count  # a complete binary STL
    visuals = sum(len(link.findall("visual")) for link in tree.findall("link"))
    assert visuals >= model.nbody - 1  # every link is drawn, collision copies are not


def test_robot_description_command_writes_an_installable_description(tmp_path, capsys):
    from dit4dit_ros.cli import main

    prefix = "package://dit4dit_ros/description/meshes/"
    assert main(["robot-description", "--out", str(tmp_path), "--mesh-uri-prefix", prefix]) == 0
    urdf = (tmp_path / "g1.urdf").read_text()
    files = {m.get("filename") for m in ET.fromstring(urdf).iter("mesh")}
    assert files and all(f.startswith(prefix) and (tmp_path / "meshes" / f.removeprefix(prefix)).is_file() for f in files)
    assert "30 links" in capsys.readouterr().out
