"""Gravity compensation: the MuJoCo gravity model, the executor adding it only while tracking, the safety
filter's torque guarantee with a feed-forward torque, and the waist holding its pose on the simulated G1."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control import ExecutorConfig, ExecutorCore, MeasuredState, Mode, WatchdogConfig, check_command
from dit4dit_ros.g1.gravity import GravityModel
from dit4dit_ros.control.plant import LagPlant
from dit4dit_ros.control.safety import JointLimits, SafetyFilter, clip_feedforward, predicted_torque
from dit4dit_ros.control.config import InterlockConfig, SafetyConfig
from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX, JOINT_NAMES, LEGS, WAIST, joint_indices, limits_array
from dit4dit_ros.g1.lowcmd import MODE_PR_PITCH_ROLL, ControlPath, LowCmdSample
from dit4dit_ros.sim.robot import SimRobot, SimRobotConfig

DT = 0.002
HW_MIN = limits_array("position_min")
HW_MAX = limits_array("position_max")
UPPER = joint_indices(WAIST + ARMS)
WAIST_PITCH = JOINT_INDEX["waist_pitch_joint"]
WD = WatchdogConfig(input_timeout=0.2, hold_timeout=0.2, state_timeout=0.02)


@pytest.fixture(scope="module")
def robot() -> SimRobot:
    return SimRobot(SimRobotConfig())


@pytest.fixture(scope="module")
def gravity(robot) -> GravityModel:
    return GravityModel(robot.model)


def test_gravity_matches_mujoco_bias_force(robot, gravity):
    import mujoco

    m = robot.model
    d = mujoco.MjData(m)
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES]
    qadr, dadr = m.jnt_qposadr[ids], m.jnt_dofadr[ids]
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(HW_MIN, HW_MAX)
        d.qpos[qadr] = q
        d.qvel[:] = 0.0
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(gravity(q), d.qfrc_bias[dadr], rtol=1e-9, atol=1e-9)
    # the torso leans on the waist pitch motor, and an arm reaching forward loads its shoulder
    g = gravity(np.zeros(29))
    assert abs(g[WAIST_PITCH]) > 1.0
    q = np.zeros(29)
    q[JOINT_INDEX["right_shoulder_pitch_joint"]] = -1.5
    assert abs(gravity(q)[JOINT_INDEX["right_shoulder_pitch_joint"]]) > 2.0
    assert gravity(q)[WAIST_PITCH] != pytest.approx(g[WAIST_PITCH], abs=0.1)


def test_gravity_model_rejects_models_and_poses_it_cannot_handle(gravity):
    import mujoco

    xml = """<mujoco><worldbody><body><joint name="waist_yaw_joint" type="hinge"/>
             <geom size="0.1" mass="1"/></body></worldbody></mujoco>"""
    with pytest.raises(ValueError, match="no joint named.*left_hip_pitch_joint"):
        GravityModel(mujoco.MjModel.from_xml_string(xml))
    with pytest.raises(ValueError, match=r"shape \(29,\)"):
        gravity(np.zeros(14))
    with pytest.raises(ValueError, match="finite"):
        gravity(np.full(29, np.nan))


def test_config_validates_gravity_settings(gravity):
    with pytest.raises(ValueError, match="gravity_compensation_scale"):
        ExecutorConfig(gravity_compensation=True, gravity_compensation_scale=2.0)
    with pytest.raises(ValueError, match="unknown G1 joint"):
        ExecutorConfig(gravity_joints=("waist_pitch_joint", "tail_joint"))
    with pytest.raises(ValueError, match="gravity_compensation is False"):
        ExecutorCore(ExecutorConfig(), gravity=gravity)


def _expected(core: ExecutorCore, gravity, q: np.ndarray, scale: float, mask: np.ndarray) -> np.ndarray:
    return clip_feedforward(core.limits, scale * mask * gravity(q))


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_feedforward_only_while_tracking(gravity, scale):
    """SOFT_START, RUNNING, HOLD carry scale * g(q_measured) on the gravity joints; DAMPING, ESTOP, disable: 0."""
    cfg = ExecutorConfig(soft_start_time=0.1, controllable_joints=WAIST + ARMS, watchdog=WD, gravity_compensation=True,
                         gravity_compensation_scale=scale, gravity_joints=WAIST + ARMS)
    core = ExecutorCore(cfg, gravity=gravity)
    mask = np.isin(np.arange(29), UPPER)
    plant = LagPlant(tau=0.01)
    plant.q[joint_indices(("right_shoulder_pitch_joint", "right_elbow_joint"))] = [-0.8, 0.3]
    now = 10.0
    seen: dict[Mode, int] = {}

    def step() -> None:
        nonlocal now
        now += DT
        state = plant.state(now)
        cmd = core.tick(now, state)
        plant.step(cmd, DT)
        seen[cmd.mode] = seen.get(cmd.mode, 0) + 1
        if cmd.mode in (Mode.SOFT_START, Mode.RUNNING, Mode.HOLD):
            expected = _expected(core, gravity, state.q, scale, mask)
            np.testing.assert_array_equal(cmd.tau, expected)
            assert np.all(cmd.tau[joint_indices(LEGS)] == 0.0) and np.any(cmd.tau[UPPER] != 0.0)
            assert not check_command(core.limits, cmd.q, cmd.dq, cmd.kp, cmd.kd, state.q, state.dq, tau=cmd.tau)
        else:
            assert not cmd.tau.any(), f"feed-forward torque in {cmd.mode}"

    step()
    assert core.enable(now)
    for _ in range(50):
        step()
    assert core.submit_teleop(["right_shoulder_pitch_joint"], [-1.0], now)
    for _ in range(500):  # RUNNING -> HOLD (input timeout) -> DAMPING (hold timeout)
        step()
    assert seen.keys() >= {Mode.SOFT_START, Mode.RUNNING, Mode.HOLD, Mode.DAMPING}
    assert core.mode is Mode.DAMPING and core.status()["gravity_compensation"]
    assert core.disable(now)
    for _ in range(300):  # disable damping, then DISABLED
        step()
    assert core.mode is Mode.DISABLED
    assert core.enable(now)
    for _ in range(60):
        step()
    core.estop(now)
    for _ in range(20):
        step()
    assert seen[Mode.ESTOP] == 20
    assert not core.damping_command(now).tau.any()


def test_torque_limit_holds_with_any_feedforward():
    """|kp (q_des - q) + kd (dq_des - dq) + tau_ff| <= limit under random pushes, references and feed-forward
    torques up to the limit itself (a gravity model far off, or a scale that saturates)."""
    lim = JointLimits.from_config(SafetyConfig())
    rng = np.random.default_rng(3)
    kp, kd = ExecutorConfig().kp(), ExecutorConfig().kd()
    filt = SafetyFilter(lim, DT)
    q_meas = rng.uniform(lim.position_min, lim.position_max)
    filt.reset(q_meas)
    worst = 0.0
    for k in range(3000):
        q_meas = np.clip(q_meas + rng.normal(0, 0.05, 29), HW_MIN - 0.05, HW_MAX + 0.05)  # pushes, even past limits
        dq_meas = rng.normal(0, 3.0, 29)
        tau_ff = clip_feedforward(lim, rng.uniform(-1.5, 1.5, 29) * lim.torque)
        q_ref = rng.uniform(HW_MIN - 1, HW_MAX + 1) if k % 100 == 0 else filt.q + rng.normal(0, 0.01, 29)
        q, dq = filt.step(q_ref, np.zeros(29), q_meas, dq_meas, kp, kd, tau_ff)
        torque = predicted_torque(q, dq, q_meas, dq_meas, kp, kd, tau_ff)
        worst = max(worst, float(np.max(np.abs(torque) / lim.torque)))
    assert worst <= 1.0 + 1e-9
    with pytest.raises(ValueError, match="clip_feedforward"):
        filt.step(filt.q, np.zeros(29), filt.q, np.zeros(29), kp, kd, 2 * lim.torque)


def test_executor_builds_the_default_model(gravity):
    cfg = ExecutorConfig(soft_start_time=0.1, gravity_compensation=True, watchdog=WD)
    core = ExecutorCore(cfg)
    q = np.zeros(29)
    q[JOINT_INDEX["left_shoulder_pitch_joint"]] = -0.7
    core.tick(1.0, MeasuredState(q, np.zeros(29), 1.0))
    assert core.enable(1.0)
    cmd = core.tick(1.002, MeasuredState(q, np.zeros(29), 1.002))
    np.testing.assert_allclose(cmd.tau, clip_feedforward(core.limits, gravity(q)), atol=1e-9)


def _hold_arm_out(robot: SimRobot, gravity: GravityModel | None) -> tuple[float, float, list]:
    """Executor -> rt/arm_sdk -> SimRobot: enable, then extend the right arm forward and hold for 3 s.
    Returns (|waist pitch error| at the end, largest |waist pitch error|, limit violations)."""
    robot.reset(0)
    # Plain PD lets the torso sag 0.3 rad on purpose (that is the baseline being measured); the no-effect
    # interlock rightly calls that "commands have no effect" after 1 s, so it is off for the baseline only.
    interlocks = InterlockConfig() if gravity is not None else InterlockConfig(no_effect_timeout=0.0)
    cfg = ExecutorConfig(soft_start_time=0.2, controllable_joints=WAIST + ARMS, gravity_compensation=gravity is not None,
                         gravity_joints=WAIST + ARMS, interlocks=interlocks)
    core = ExecutorCore(cfg, gravity=gravity)
    ones = np.ones(29, dtype=np.int64)
    violations: list = []

    def tick() -> None:
        s = robot.state()
        cmd = core.tick(s.time, MeasuredState(s.q, s.dq, s.time))
        if cmd.send:
            violations.extend(check_command(core.limits, cmd.q, cmd.dq, cmd.kp, cmd.kd, s.q, s.dq, tau=cmd.tau))
            robot.submit(ControlPath.ARM_SDK, LowCmdSample(
                q=cmd.q, dq=cmd.dq, kp=cmd.kp, kd=cmd.kd, tau=cmd.tau, motor_mode=ones, mode_pr=MODE_PR_PITCH_ROLL,
                mode_machine=robot.config.mode_machine, arm_sdk_weight=float(cmd.arm_sdk_weight), crc_ok=True,
                receive_time=s.time))
        robot.step()

    tick()
    assert core.enable(robot.time)
    captured = core.filter.q[WAIST_PITCH]  # the waist's target: the pose captured at enable
    names, target = ["right_shoulder_pitch_joint", "right_elbow_joint"], [-0.9, 0.2]
    worst = 0.0
    for k in range(1600):
        if k >= 150 and k % 50 == 0:
            assert core.submit_teleop(names, target, robot.time)
        tick()
        worst = max(worst, abs(robot.state().q[WAIST_PITCH] - captured))
    assert core.mode is Mode.RUNNING
    return abs(robot.state().q[WAIST_PITCH] - captured), worst, violations


def test_waist_holds_its_pose_with_an_arm_extended(robot, gravity):
    err_pd, worst_pd, viol_pd = _hold_arm_out(robot, None)
    err_ff, worst_ff, viol_ff = _hold_arm_out(robot, gravity)
    assert not viol_pd and not viol_ff, (viol_pd + viol_ff)[:3]
    assert err_pd > 0.1  # plain PD: the torso pitches forward
    assert worst_ff < 0.3 * worst_pd and err_ff < 0.3 * err_pd
    assert err_ff < 0.01
    arm = robot.state().q[JOINT_INDEX["right_shoulder_pitch_joint"]]
    assert arm == pytest.approx(-0.9, abs=0.01)  # and the arm reaches its target instead of sagging
