"""The G1 with Dex3-1 hands in MuJoCo: the model's joints and motors, the hand drivers, and a grasp that holds."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from dit4dit_ros.g1.description import RobotDescription
from dit4dit_ros.g1.hand_command import HandCommand, gripper_to_joints
from dit4dit_ros.g1.hands import HAND_JOINTS, HandSide, hand_limits
from dit4dit_ros.g1.model import build_robot_model, build_robot_spec
from dit4dit_ros.sim.robot import SimRobot, SimRobotConfig
from dit4dit_ros.sim.scene import SceneConfig

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def dex3_model():
    return build_robot_model(hands="dex3")


def test_dex3_model_has_both_hands_with_the_joint_table_limits(dex3_model) -> None:
    m = dex3_model
    for side, joints in HAND_JOINTS.items():
        for spec in joints:
            j = m.joint(spec.name)
            assert tuple(j.range) == pytest.approx((spec.position_min, spec.position_max))
            act = m.actuator(spec.name.removesuffix("_joint"))
            assert act.trnid[0] == j.id
            assert tuple(act.ctrlrange) == pytest.approx((-spec.torque_limit, spec.torque_limit))
    meshes = {m.mesh(i).name for i in range(m.nmesh)}
    assert "right_hand_index_1_link" in meshes and not any("rubber_hand" in n for n in meshes)
    assert m.nu == 29 + 14


def test_no_hands_keeps_the_rubber_hands_and_bad_names_are_refused() -> None:
    m = build_robot_model(hands="none")
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "left_hand_thumb_0_joint") < 0
    assert any("rubber_hand" in m.mesh(i).name for i in range(m.nmesh)) and m.nu == 29
    with pytest.raises(ValueError, match=r"hands must be one of \['none', 'dex3'\], got 'inspire'"):
        build_robot_spec(hands="inspire")
    with pytest.raises(ValueError, match="hands must be one of"):
        SceneConfig(hands="inspire")


def test_urdf_of_the_dex3_model_carries_the_hand_joints(dex3_model) -> None:
    urdf = RobotDescription(dex3_model).urdf("package://g1/meshes/")
    for spec in HAND_JOINTS[HandSide.RIGHT]:
        assert f'<joint name="{spec.name}" type="revolute">' in urdf
    assert 'name="right_hand_palm_link"' in urdf


def _robot(**scene) -> SimRobot:
    return SimRobot(SimRobotConfig(scene=SceneConfig(hands="dex3", **scene), task="reach"))


def _drive(robot: SimRobot, seconds: float, command) -> None:
    """Step `seconds` of simulation, sending `command(t)` to the right hand at 100 Hz (as the executor would)."""
    steps = int(round(seconds / robot.dt))
    for k in range(steps):
        if k % 5 == 0:
            robot.hands.submit("right", command(k * robot.dt))
        robot.step(1)


def test_closed_hand_holds_a_block_against_gravity_and_opening_drops_it() -> None:
    robot = _robot(cube_half_size=0.0225, cube_mass=0.08)
    m, d, world = robot.model, robot.data, robot.world
    wrist = d.body("right_wrist_yaw_link")
    # the block floats (weight cancelled) in front of the right palm face while the hand closes on it
    start = wrist.xpos + wrist.xmat.reshape(3, 3) @ np.array([0.105, 0.045, 0.0])
    d.qpos[world._cube_qadr:world._cube_qadr + 7] = np.concatenate([start, [1.0, 0.0, 0.0, 0.0]])
    cube = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "cube")
    d.xfrc_applied[cube, 2] = m.body_subtreemass[cube] * 9.81
    mujoco.mj_forward(m, d)
    _drive(robot, 1.0, lambda t: HandCommand.gripper("right", min(1.0, t / 0.5)))
    d.xfrc_applied[cube, 2] = 0.0  # gravity on: the grasp alone holds it
    held = world.cube_pos()
    _drive(robot, 2.0, lambda t: HandCommand.gripper("right", 1.0))
    assert np.linalg.norm(world.cube_pos() - held) < 0.015, world.cube_pos() - held
    _, _, tau = robot.hands.joint_state("right")
    assert np.max(np.abs(tau)) > 0.3  # the fingers are pressing, not resting
    _drive(robot, 1.0, lambda t: HandCommand.gripper("right", 0.0))
    assert held[2] - world.cube_pos()[2] > 0.05  # open: the block falls


def test_hand_follows_commands_times_out_to_damping_and_refuses_invalid_ones() -> None:
    robot = _robot()
    target = gripper_to_joints("left", 0.6)
    for _ in range(100):  # 1 s at 100 Hz
        assert robot.hands.submit("left", HandCommand.position(target))
        robot.step(5)
    q, _, _ = robot.hands.joint_state("left")
    np.testing.assert_allclose(q, target, atol=0.08)
    assert np.all(q >= hand_limits("left", "position_min") - 1e-3)
    bad = HandCommand(np.full(7, np.nan), np.zeros(7), np.zeros(7), np.ones(7), np.ones(7))
    assert not robot.hands.submit("left", bad)
    robot.step(int(0.3 / robot.dt))  # silence longer than command_timeout (0.2 s)
    status = robot.hands.status()["left"]
    assert status["damping"] and status["timeouts"] == 1 and status["invalid"] == 1
    _, _, tau = robot.hands.joint_state("left")
    _, dq, _ = robot.hands.joint_state("left")
    np.testing.assert_allclose(tau, -0.2 * dq, atol=1e-9)  # damping: no stiffness, only kd
    assert robot.hands.status()["right"]["timeouts"] == 0  # never commanded: holds open, no timeout
    robot.hands.submit("left", HandCommand.position(target))
    robot.step(1)
    assert not robot.hands.status()["left"]["damping"]


@pytest.mark.parametrize("view", ["scene", "ego"])
def test_rollout_frames_show_the_hands(view: str) -> None:
    """The rollout video's scene view and the policy's ego view of the pick_place scene show the Dex3-1 hands: hiding
    the hand links' geoms changes a visible part of the frame (the rubber-hand scene has no such links)."""
    from dit4dit_ros.evaluation.video import SCENE_SIZE
    from dit4dit_ros.sim.camera import HEAD_CAMERA, CameraConfig, SimCamera, ViewPoint

    robot = SimRobot(SimRobotConfig(scene=SceneConfig(hands="dex3"), task="pick_place"))
    m = robot.model
    hand_bodies = {b for b in range(m.nbody) for side in ("left", "right")
                   if m.body(b).name.startswith(f"{side}_hand_") and m.body(b).name != f"{side}_hand_palm_link"}
    hand_geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] in hand_bodies and m.geom_rgba[g, 3] > 0]
    assert len(hand_geoms) >= 14, "every finger link of both hands has a visible geom"
    size = SCENE_SIZE if view == "scene" else (240, 320)
    camera = SimCamera(m, CameraConfig(width=size[1], height=size[0]), ViewPoint() if view == "scene" else HEAD_CAMERA)
    try:
        mujoco.mj_forward(m, robot.data)
        with_hands = camera.render(robot.data).astype(int)
        m.geom_rgba[hand_geoms, 3] = 0.0
        without = camera.render(robot.data).astype(int)
    finally:
        camera.close()
    changed = np.any(np.abs(with_hands - without) > 10, axis=-1).mean()
    assert changed > 0.002, f"the hands cover only {changed:.4%} of the {view} frame"
