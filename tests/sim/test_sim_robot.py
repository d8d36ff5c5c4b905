"""SimRobot in-process (no DDS): PD law, tasks (determinism, success checks), ego camera, lock-step rule."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from dit4dit_ros.g1.crc import lowcmd_crc
from dit4dit_ros.g1.joints import JOINT_INDEX, RIGHT_ARM, limits_array
from dit4dit_ros.g1.lowcmd import MotorCommand, build_lowcmd, parse_lowcmd
from dit4dit_ros.sim.camera import CameraConfig, SimCamera
from dit4dit_ros.g1.ik import RIGHT_ARM_IK_SEED, solve_site_position
from dit4dit_ros.sim.loop import LoopConfig, NullSink, SimLoop
from dit4dit_ros.sim.robot import ControlMode, SimRobot, SimRobotConfig
from dit4dit_ros.g1.model import HEAD_CAMERA
from dit4dit_ros.sim.tasks import make_task
from dit4dit_ros.utils.waiting import WaitTimeout, wait_until


@pytest.fixture(scope="module")
def robot() -> SimRobot:
    return SimRobot(SimRobotConfig(task="reach"))


@pytest.fixture
def fresh(robot: SimRobot) -> SimRobot:
    robot.task = make_task("reach")
    robot.reset(0)
    return robot


def _project(cam, k: np.ndarray, world: np.ndarray) -> tuple[float, float]:
    """Pixel (u, v) of a world point for a MuJoCo camera `cam` (data.cam(...)) with pinhole matrix `k`."""
    p = cam.xmat.reshape(3, 3).T @ (world - cam.xpos)  # MuJoCo camera frame: x right, y up, -z forward
    x, y, z = p[0], -p[1], -p[2]  # optical frame: x right, y down, z forward
    return k[0, 0] * x / z + k[0, 2], k[1, 1] * y / z + k[1, 2]


def _lowcmd(q, kp=None, kd=None, mode_machine=5):
    return parse_lowcmd(build_lowcmd(MotorCommand.hold(q, kp=kp, kd=kd), mode_machine))


def test_reset_is_deterministic_per_seed_and_keeps_time_running(fresh: SimRobot):
    for task in ("reach", "pick_place"):
        fresh.task = make_task(task)
        fresh.reset(3)
        a = (fresh.world.cube_pos(), fresh.world.target_pos(), fresh.data.qpos.copy())
        fresh.step(50)
        t = fresh.time
        fresh.reset(4)
        b = fresh.world.cube_pos()
        fresh.reset(3)
        assert fresh.time == pytest.approx(t)  # sim time (the ROS clock) never jumps back
        np.testing.assert_array_equal(fresh.world.cube_pos(), a[0])
        np.testing.assert_array_equal(fresh.world.target_pos(), a[1])
        np.testing.assert_array_equal(fresh.data.qpos, a[2])
        assert np.linalg.norm(b - a[0]) > 1e-3
        status = fresh.task_status()
        assert status.seed == 3 and status.task == task and status.instruction and not status.success


def test_reach_success_check_with_ik_teleported_hand(fresh: SimRobot):
    for seed in (0, 1, 2):
        fresh.reset(seed)
        assert not fresh.task_status().success
        cube = fresh.world.cube_pos()
        ik = solve_site_position(fresh.model, "right_palm", cube + [0, 0, 0.045], RIGHT_ARM,
                                 qpos=fresh.data.qpos, seed=RIGHT_ARM_IK_SEED)
        assert ik.converged, f"seed {seed}: cube at {cube} out of the right hand's reach (error {ik.error:.3f} m)"
        fresh.set_joint_positions(ik.q, RIGHT_ARM)
        status = fresh.task_status()
        assert status.success, status
        assert status.metrics["hand_cube_distance"] == pytest.approx(0.045, abs=0.003)
        ik_far = solve_site_position(fresh.model, "right_palm", cube + [0, 0, 0.12], RIGHT_ARM,
                                     qpos=fresh.data.qpos, seed=RIGHT_ARM_IK_SEED)
        fresh.set_joint_positions(ik_far.q, RIGHT_ARM)
        assert not fresh.task_status().success


def test_pick_place_success_needs_cube_resting_on_target(fresh: SimRobot):
    fresh.task = make_task("pick_place")
    fresh.reset(5)
    assert not fresh.task_status().success
    target = fresh.world.target_pos()
    fresh.world.place_cube(target[:2] + [0.01, -0.01])
    fresh.set_joint_positions(fresh.hold_q)  # mj_forward
    assert fresh.task_status().success
    fresh.step(100)  # it stays there under physics
    assert fresh.task_status().success
    fresh.world.place_cube(target[:2])
    fresh.data.qpos[fresh.world._cube_qadr + 2] += 0.05  # lifted above the disc: not placed yet
    assert not fresh.task_status().success


def test_balance_mode_holds_pose_and_pd_torque_is_clipped(fresh: SimRobot):
    fresh.step(250)
    np.testing.assert_allclose(fresh.state().q, fresh.hold_q, atol=0.02)
    assert fresh.mode is ControlMode.BALANCE
    q = fresh.hold_q.copy()
    elbow = JOINT_INDEX["right_elbow_joint"]
    q[elbow] += 1.0
    kp = limits_array("kp") * 100  # absurd stiffness: the motor saturates at its torque limit
    assert fresh.submit("rt/lowcmd", _lowcmd(q, kp=kp))
    fresh.step(1)
    tau = fresh.state().tau
    assert fresh.mode is ControlMode.LOWCMD
    assert np.all(np.abs(tau) <= limits_array("torque_limit") + 1e-9)
    assert tau[elbow] == pytest.approx(limits_array("torque_limit")[elbow])


def test_disabled_motor_and_rejected_commands(fresh: SimRobot):
    msg = build_lowcmd(MotorCommand.hold(fresh.hold_q), 5)
    msg.motor_cmd[JOINT_INDEX["left_knee_joint"]].mode = 0  # motor off
    msg.crc = lowcmd_crc(msg)
    assert fresh.submit("rt/lowcmd", parse_lowcmd(msg))
    fresh.step(2)
    assert fresh.state().tau[JOINT_INDEX["left_knee_joint"]] == 0.0
    c = fresh.counters
    mismatch, bad_crc = c.mode_machine_mismatch, c.bad_crc
    assert not fresh.submit("rt/lowcmd", _lowcmd(fresh.hold_q, mode_machine=9))
    bad = build_lowcmd(MotorCommand.hold(fresh.hold_q), 5)
    bad.crc ^= 1
    assert not fresh.submit("rt/lowcmd", parse_lowcmd(bad))
    assert (c.mode_machine_mismatch, c.bad_crc) == (mismatch + 1, bad_crc + 1)
    # rt/lowcmd released the balance controller: rt/arm_sdk is accepted on the wire but ignored.
    ignored = c.ignored_arm_sdk
    arm = build_lowcmd(MotorCommand.hold(fresh.hold_q), 5, path="rt/arm_sdk", arm_sdk_weight=1.0)
    assert fresh.submit("rt/arm_sdk", parse_lowcmd(arm))
    fresh.step(1)
    assert c.ignored_arm_sdk == ignored + 1 and fresh.mode is ControlMode.LOWCMD


def test_camera_renders_table_and_cube_where_camera_info_projects_it(fresh: SimRobot):
    fresh.reset(0)
    camera = SimCamera(fresh.model, CameraConfig(width=128, height=128))
    try:
        image = camera.render(fresh.data)
        k = camera.intrinsics()
    finally:
        camera.close()
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert image.std() > 10  # not a blank frame
    r, g, b = (image[..., i].astype(int) for i in range(3))
    table = (r > 120) & (r > g + 20) & (g > b + 20) & (r < 250)  # the brown table top (not saturated)
    assert table.mean() > 0.2, f"table covers only {table.mean():.0%} of the image"
    # Project the cube centre with the published intrinsics: the pixel there is red.
    u, v = _project(fresh.data.cam(HEAD_CAMERA), k, fresh.world.cube_pos())
    px = image[int(round(v)), int(round(u))].astype(int)
    assert px[0] > 120 and px[0] > 2 * px[1] and px[0] > 2 * px[2], f"pixel ({u:.0f}, {v:.0f}) is {px}, not the red cube"


@pytest.mark.parametrize("task", ["reach", "pick_place"])
def test_every_object_placement_is_inside_the_ego_image(fresh: SimRobot, task: str):
    """A policy cannot reach what it cannot see: the cube's corners at every corner of the placement region,
    at any yaw, project inside the 64x64 ego image the demo policy is trained on."""
    from dit4dit_ros.sim.scene import camera_intrinsics

    region = make_task(task).region
    model = fresh.model
    cam = fresh.data.cam(HEAD_CAMERA)
    k = camera_intrinsics(64, 64, float(model.cam_fovy[cam.id]))
    half = fresh.world.scene.cube_half_size
    z = fresh.world.scene.cube_rest_z
    reach = half * np.sqrt(2.0)  # a cube corner at any yaw stays within this planar radius of the centre
    us, vs = [], []
    for cx in region.x:
        for cy in region.y:
            for ang in np.linspace(0, 2 * np.pi, 16, endpoint=False):
                for dz in (-half, half):
                    u, v = _project(cam, k, np.array([cx + reach * np.cos(ang), cy + reach * np.sin(ang), z + dz]))
                    us.append(u)
                    vs.append(v)
    assert 0 <= min(us) and max(us) < 64, f"{task}: cube columns {min(us):.1f}..{max(us):.1f} leave the image"
    assert 0 <= min(vs) and max(vs) < 64, f"{task}: cube rows {min(vs):.1f}..{max(vs):.1f} leave the image"


def test_demo_camera_renders_exactly_what_the_sim_node_camera_renders(fresh: SimRobot):
    """Demonstrations and direct evaluation render without the skybox (CameraConfig.fast); the ROS graph's sim node
    renders with it. A policy trained on one must see identical pixels from the other (same state, same size)."""
    fresh.reset(100003)
    ego = SimCamera(fresh.model, CameraConfig(width=64, height=64))
    demo = SimCamera(fresh.model, CameraConfig.fast(64, 64))
    try:
        a, b = ego.render(fresh.data), demo.render(fresh.data)
    finally:
        ego.close()
        demo.close()
    assert a.std() > 10
    np.testing.assert_array_equal(a, b)


class _FrameLog(NullSink):
    def __init__(self) -> None:
        self.frames: list[float] = []

    def on_frame(self, image, sim_time) -> None:
        self.frames.append(sim_time)


def test_lockstep_waits_for_acknowledgement_of_each_frame(fresh: SimRobot):
    sink = _FrameLog()
    cfg = LoopConfig(camera=CameraConfig(width=32, height=32, rate_hz=50.0), lockstep=True, lockstep_timeout=0.0,
                     lockstep_resend=0.2, real_time_factor=0.0, clock_rate_hz=0.0)
    loop = SimLoop(fresh, cfg, sinks=[sink])
    thread = threading.Thread(target=loop.run, kwargs={"duration": 30.0})
    thread.start()
    try:
        wait_until(lambda: sink.frames, timeout=20.0, what="first frame")
        t_frame = sink.frames[0]
        assert t_frame > 0
        with pytest.raises(WaitTimeout):  # no acknowledgement: no newer frame, simulation time frozen
            wait_until(lambda: max(sink.frames) > t_frame, timeout=0.5)
        assert fresh.time == pytest.approx(t_frame)
        assert len(sink.frames) >= 2 and set(sink.frames) == {t_frame}  # re-sent while unacknowledged
        loop.acknowledge(t_frame)
        wait_until(lambda: max(sink.frames) > t_frame, timeout=10.0, what="next frame after the acknowledgement")
        assert max(sink.frames) == pytest.approx(t_frame + 0.02)  # one camera period of simulation later
    finally:
        loop.stop()
        thread.join(timeout=10.0)
    assert not thread.is_alive()


def test_scene_camera_frames_come_at_their_rate_and_leave_the_ego_frames_unchanged():
    """The third-person view renders at its own rate in lock-step; the ego frames (what the policy sees) are the
    same pixels with and without it."""
    def run(scene: bool) -> tuple[list, list]:
        class Sink(NullSink):
            def __init__(self) -> None:
                self.ego, self.scene = [], []

            def on_frame(self, image, t) -> None:
                if not self.ego or self.ego[-1][0] != t:
                    self.ego.append((t, image.copy()))
                loop.acknowledge(t)

            def on_scene_frame(self, image, t) -> None:
                self.scene.append((t, image.shape))

        robot = SimRobot(seed=100003)  # a fresh robot each time: the same start state and simulation time
        sink = Sink()
        cfg = LoopConfig(camera=CameraConfig(width=32, height=32, rate_hz=5.0), lockstep=True, real_time_factor=0.0,
                         clock_rate_hz=0.0, scene_camera=CameraConfig(width=64, height=48, rate_hz=20.0) if scene else None)
        loop = SimLoop(robot, cfg, sinks=[sink])
        thread = threading.Thread(target=loop.run, kwargs={"duration": 60.0})
        thread.start()
        try:
            wait_until(lambda: len(sink.ego) >= 3, 60.0, what="three ego frames")
        finally:
            loop.stop()
            thread.join(timeout=10.0)
        return sink.ego[:3], sink.scene

    plain, _ = run(scene=False)
    with_scene, scene = run(scene=True)
    assert [t for t, _ in plain] == pytest.approx([t for t, _ in with_scene])
    for (_, a), (_, b) in zip(plain, with_scene):
        np.testing.assert_array_equal(a, b)
    times = [t for t, _ in scene if t <= with_scene[-1][0] + 1e-9]
    assert len(times) >= 4 * len(with_scene) - 1 and all(shape == (48, 64, 3) for _, shape in scene)
    assert np.allclose(np.diff(times), 0.05)  # 20 Hz of simulation time


def test_a_real_time_physics_loop_renders_its_frames_at_normal_priority(fresh: SimRobot):
    """Under SCHED_FIFO (sim_robot `realtime`) only the physics + LowState loop is real time: the render thread it
    starts would inherit its priority, and leaves it (sim/loop.py; heavy, not time-critical work)."""
    import os

    from dit4dit_ros.utils.realtime import RealtimeConfig, apply_realtime, realtime_available

    ok, detail = realtime_available(10)
    if not ok:
        pytest.skip(f"this machine refuses SCHED_FIFO: {detail}")

    class Sink(NullSink):
        def __init__(self) -> None:
            self.frame_policies: list[int] = []
            self.state_policies: list[int] = []

        def on_frame(self, image, t) -> None:  # the render thread
            self.frame_policies.append(os.sched_getscheduler(0))

        def on_state(self, robot) -> None:  # the physics loop's thread
            if len(self.state_policies) < 10:
                self.state_policies.append(os.sched_getscheduler(0))

    sink = Sink()
    loop = SimLoop(fresh, LoopConfig(camera=CameraConfig(width=32, height=32, rate_hz=20.0), lockstep=False),
                   sinks=[sink])

    def physics_in_real_time() -> None:
        apply_realtime(RealtimeConfig(enabled=True, priority=10, lock_memory=False), "test physics loop")
        loop.run(duration=60.0)

    thread = threading.Thread(target=physics_in_real_time)
    thread.start()
    try:
        wait_until(lambda: len(sink.frame_policies) >= 2 and len(sink.state_policies) >= 10, 60.0,
                   what="two frames and ten states")
    finally:
        loop.stop()
        thread.join(timeout=10.0)
    assert set(sink.state_policies) == {os.SCHED_FIFO} and set(sink.frame_policies) == {os.SCHED_OTHER}
