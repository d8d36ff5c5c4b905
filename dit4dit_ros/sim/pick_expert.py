"""The scripted pick-and-place expert of the Dex3-1 G1: approach, grasp with the synergy, lift, carry, place, release.

Like the reach expert (sim/expert.py) it is privileged (reads the block and the disc from the simulator at reset),
plans the whole episode once, and answers `command(t)` (ARMS-order arm joints: the planned poses themselves, since
on the robot with hands the executor sends the arms' gravity torque as feed-forward, demo/runner.py) and `gripper(t)` (left, right: 0 open .. 1 closed, the official
G1 layout's gripper channels, mapped to the hand joints by the synergy of g1/hand_command.py).

The grasp is a side grasp with the right hand: the hand frame (wrist yaw link) is turned to the world's axes
yawed by the block's heading (folded into +-45 deg), so the fingers point forward, the palm faces left and the
thumb sticks out of the palm behind the block. The `right_grasp` site (where a grasped object's centre sits,
g1/dex3_model.py) goes over the block, straight down to `grasp_height` above the table (the hand's lower edge
then clears the table), the hand closes, lifts, carries the block over the disc, lowers it until it is
`release_clearance` above the table, opens and moves straight up. Waypoints are solved by 6-D IK over the 7
right-arm joints (orientation to within 0.15 rad: the grasp tolerates a slightly tilted hand, and near the
midline the arm cannot turn the hand exactly without pressing into the torso); segments are minimum-jerk in joint space (sim/expert.py JointTrajectory).

Closing the loop: joint friction (frictionloss) leaves the arm's PD equilibrium 1-3 cm away from the planned
hand position, which is as large as the grasp's margins. So the expert is also a feedback controller: every frame
`observe(robot)` compares the grasp site with the planned one and integrates a joint offset
(offset += gain * J^+ error, damped least squares on the site's position Jacobian, bounded) that `command(t)`
adds to the plan. The recorded actions are these corrected commands, so a policy learns commands that reach.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.ik import solve_site_pose
from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX, RIGHT_ARM
from dit4dit_ros.sim.expert import ArmKinematics, JointTrajectory

GRASP_SITE = "right_grasp"
# The model lets the right shoulder roll past ~0 rad, where the upper arm presses into the torso (the arm then
# stalls against it and the executor's no-effect interlock damps it): IK and feedback keep it below this.
JOINT_BOUNDS = {"right_shoulder_roll_joint": (-2.2515, -0.08)}


class PlanningError(ValueError):
    """No plan for this episode (a waypoint outside the arm's reach within JOINT_BOUNDS): a failed demonstration."""


@dataclass(frozen=True)
class PickPlaceConfig:
    start_pause: float = 0.2  # s at the start pose
    hover_height: float = 0.10  # m of the grasp site above its grasp height when approaching / carrying
    grasp_height: float = 0.045  # m of the grasp site above the table top when grasping
    release_clearance: float = 0.004  # m between the block's bottom and the table when the hand opens
    speed: float = 0.30  # m/s average hand speed of the free segments
    min_segment: float = 0.6  # s
    max_segment: float = 1.6  # s
    vertical_time: float = 0.8  # s for each straight descent / lift
    close_time: float = 0.5  # s to close the hand (gripper 0 -> 1)
    grip_settle: float = 0.3  # s closed before lifting
    open_time: float = 0.4  # s to open the hand
    tail: float = 0.5  # s holding the final pose (the success check looks at a settled scene)
    feedback_gain: float = 0.2  # fraction of the hand position error corrected per frame
    max_offset: float = 0.3  # rad, bound on the feedback's joint offset

    def __post_init__(self) -> None:
        positive = ("hover_height", "grasp_height", "speed", "min_segment", "vertical_time", "close_time", "open_time")
        bad = [n for n in positive if getattr(self, n) <= 0]
        if bad or self.max_segment < self.min_segment:
            raise ValueError(f"PickPlaceConfig: {bad or 'max_segment'} must be positive (max_segment >= min_segment)")
        if min(self.start_pause, self.grip_settle, self.tail, self.release_clearance) < 0:
            raise ValueError("PickPlaceConfig: start_pause, grip_settle, tail and release_clearance must be >= 0")


def _yaw_rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def block_heading(quat_wxyz: np.ndarray) -> float:
    """The block's yaw folded into [-pi/4, pi/4] (a square block looks the same every quarter turn)."""
    w, x, y, z = quat_wxyz
    yaw = float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    return (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4


class PickPlaceExpert:
    """Plans the pick_place episode of a SimRobot (with Dex3-1 hands) at its current reset."""

    def __init__(self, robot, config: PickPlaceConfig | None = None) -> None:
        import mujoco

        if robot.hands is None:
            raise ValueError("the pick_place expert grasps with the Dex3-1 hands: build the scene with hands='dex3'")
        self.config = cfg = config or PickPlaceConfig()
        m = robot.model
        qadr = {n: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)]) for n in ARMS}
        dadr = {n: int(m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)]) for n in ARMS}
        hold_arm = np.array([robot.hold_q[JOINT_INDEX[n]] for n in ARMS])
        base = robot.data.qpos.copy()
        base[[qadr[n] for n in ARMS]] = hold_arm
        self.kin = ArmKinematics(m, base, qadr, dadr)
        self._mj, self._qadr = mujoco, qadr
        world = robot.world
        self.cube, self.target = world.cube_pos(), world.target_pos()
        table = world.scene.table_height
        half_height = world.scene.cube_half_extents[2]
        rot = _yaw_rotation(block_heading(world.cube_quat()))
        grasp_z = table + cfg.grasp_height
        place_z = table + half_height + cfg.release_clearance + (grasp_z - self.cube[2])
        up = np.array([0.0, 0.0, cfg.hover_height])
        above_cube = np.array([self.cube[0], self.cube[1], grasp_z]) + up
        at_cube = above_cube - up
        above_target = np.array([self.target[0], self.target[1], place_z]) + up
        at_target = above_target - up

        q_above_cube = self._solve(above_cube, rot, hold_arm)
        q_at_cube = self._solve(at_cube, rot, q_above_cube)
        q_above_target = self._solve(above_target, rot, q_above_cube)
        q_at_target = self._solve(at_target, rot, q_above_target)
        start = self._site(hold_arm)

        # (duration of the segment ending here, arm pose, gripper value at the end of the segment)
        segments = [
            (cfg.start_pause, hold_arm, 0.0),
            (self._free(start, above_cube), q_above_cube, 0.0),
            (cfg.vertical_time, q_at_cube, 0.0),
            (cfg.close_time, q_at_cube, 1.0),
            (cfg.grip_settle, q_at_cube, 1.0),
            (cfg.vertical_time, q_above_cube, 1.0),
            (self._free(above_cube, above_target), q_above_target, 1.0),
            (cfg.vertical_time, q_at_target, 1.0),
            (cfg.open_time, q_at_target, 0.0),
            (cfg.vertical_time, q_above_target, 0.0),
            (cfg.tail, q_above_target, 0.0),
        ]
        times, poses, grips = [0.0], [hold_arm], [0.0]
        for duration, pose, grip in segments:
            if duration <= 0:
                continue
            times.append(times[-1] + duration)
            poses.append(pose)
            grips.append(grip)
        self.times = np.array(times)
        self.planned = JointTrajectory(self.times, np.stack(poses))
        self.trajectory = self.planned  # gravity is the executor's feed-forward, not folded into the command
        self._grips = np.array(grips)
        self.offset = np.zeros(len(ARMS))
        self._right = np.array([ARMS.index(n) for n in RIGHT_ARM])
        self._site_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, GRASP_SITE)
        self._dadr = np.array([dadr[n] for n in RIGHT_ARM])

    def observe(self, robot, t: float) -> None:
        """Feedback (see the module docstring): integrate the joint offset from the hand's error at episode time t."""
        mj, d = self._mj, robot.data
        error = self._site(self.planned(t)) - d.site_xpos[self._site_id]
        jac = np.zeros((3, robot.model.nv))
        mj.mj_jacSite(robot.model, d, jac, None, self._site_id)
        j = jac[:, self._dadr]
        step = j.T @ np.linalg.solve(j @ j.T + 1e-4 * np.eye(3), error)
        self.offset[self._right] = np.clip(self.offset[self._right] + self.config.feedback_gain * step,
                                           -self.config.max_offset, self.config.max_offset)

    def _free(self, a: np.ndarray, b: np.ndarray) -> float:
        cfg = self.config
        return float(np.clip(np.linalg.norm(b - a) / cfg.speed, cfg.min_segment, cfg.max_segment))

    def _solve(self, target: np.ndarray, rot: np.ndarray, seed_arm: np.ndarray) -> np.ndarray:
        qpos = self.kin.arm_qpos(seed_arm)
        seed = np.array([qpos[self._qadr[n]] for n in RIGHT_ARM])
        result = solve_site_pose(self.kin.model, GRASP_SITE, target, rot, RIGHT_ARM, qpos=qpos, seed=seed,
                                 bounds=JOINT_BOUNDS, rotation_weight=0.1, rotation_tolerance=0.15)
        if not result.converged:
            raise PlanningError(f"pick_place IK for the right hand at {np.round(target, 3).tolist()} did not converge "
                             f"(error {result.error:.4f} m): outside the arm's reach")
        out = np.asarray(seed_arm, dtype=np.float64).copy()
        for name, value in zip(RIGHT_ARM, result.q):
            out[ARMS.index(name)] = value
        return out

    def _site(self, arm_q: np.ndarray) -> np.ndarray:
        d = self.kin._data
        d.qpos[:] = self.kin.arm_qpos(arm_q)
        self._mj.mj_kinematics(self.kin.model, d)
        return d.site(GRASP_SITE).xpos.copy()

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def command(self, t: float | np.ndarray) -> np.ndarray:
        """ARMS-order arm command(s) at episode time t (plan + the feedback's current offset, inside JOINT_BOUNDS)."""
        out = self.trajectory(t) + self.offset
        for name, (lo, hi) in JOINT_BOUNDS.items():
            out[..., ARMS.index(name)] = np.clip(out[..., ARMS.index(name)], lo, hi)
        return out

    def gripper(self, t: float | np.ndarray) -> np.ndarray:
        """(left, right) gripper values at episode time t ((2,) for a scalar t, (N, 2) for an array): the left hand
        stays open; the right follows the plan, linear within each segment."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        right = np.interp(ts, self.times, self._grips)
        out = np.stack([np.zeros_like(right), right], axis=1)
        return out[0] if np.ndim(t) == 0 else out
