"""Scripted experts for the tabletop tasks: joint-space minimum-jerk trajectories through IK waypoints.

The expert is privileged: it reads the cube position from the simulator at reset and plans the whole
episode once. It then answers "which arm joint command at time t?" (`command(t)`) for the demo recorder
and the tests. Its commands go through the same path as a policy's (ExecutorCore -> rt/arm_sdk), which
sends no feed-forward torque: with the default arm gain kp = 40 the arm would sag under gravity and miss
the cube by centimetres. So each waypoint's command is the IK solution plus the static gravity torque
divided by kp (q_cmd = q_ik + g(q_ik) / kp), whose PD equilibrium is exactly q_ik. A policy trained on
these commands learns the same compensation.

Reach: hold -> a point `approach_height` above the cube -> `touch_height` above the cube centre -> hold.
Segments are quintic minimum-jerk in joint space (zero velocity and acceleration at every waypoint), so the
command is smooth at any sampling rate. Pick-and-place: sim/pick_expert.py (Dex3-1 hands); make_expert in
sim/experts.py picks the expert of a task.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX, RIGHT_ARM, limits_array
from dit4dit_ros.g1.ik import solve_site_position

RIGHT_PALM = "right_palm"
# The IK moves the shoulder and the elbow; the wrist keeps its hold angles (a natural, unique solution).
IK_JOINTS: tuple[str, ...] = RIGHT_ARM[:4]


def min_jerk(s: np.ndarray | float) -> np.ndarray:
    """Minimum-jerk profile 10 s^3 - 15 s^4 + 6 s^5 on s in [0, 1] (clipped outside)."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return s ** 3 * (10.0 - 15.0 * s + 6.0 * s * s)


@dataclass(frozen=True)
class ExpertConfig:
    start_pause: float = 0.2  # s at the start pose (the policy sees the scene before moving)
    approach_height: float = 0.10  # m above the cube centre for the approach waypoint
    touch_height: float = 0.04  # m above the cube centre at the end of the reach (success needs < 0.06 m)
    speed: float = 0.35  # m/s average hand speed of the approach segment
    min_segment: float = 0.6  # s, shortest segment
    max_segment: float = 1.6  # s, longest segment
    descend_time: float = 0.6  # s from the approach waypoint down to the touch point
    duration: float = 3.5  # s, episode length (the remainder holds the last waypoint)

    def __post_init__(self) -> None:
        if not 0 < self.touch_height < self.approach_height:
            raise ValueError(f"need 0 < touch_height < approach_height, got {self.touch_height}, {self.approach_height}")
        if self.speed <= 0 or self.min_segment <= 0 or self.max_segment < self.min_segment:
            raise ValueError("speed > 0 and 0 < min_segment <= max_segment are required")
        if self.start_pause < 0 or self.descend_time <= 0 or self.duration <= 0:
            raise ValueError("start_pause >= 0, descend_time > 0 and duration > 0 are required")


class JointTrajectory:
    """Piecewise minimum-jerk interpolation through joint waypoints at given times (holds after the last)."""

    def __init__(self, times: np.ndarray, waypoints: np.ndarray) -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.waypoints = np.asarray(waypoints, dtype=np.float64)
        if self.times.ndim != 1 or self.waypoints.shape[0] != self.times.size or self.times.size < 1:
            raise ValueError(f"times {self.times.shape} and waypoints {self.waypoints.shape} must have one row per time")
        if np.any(np.diff(self.times) <= 0):
            raise ValueError(f"waypoint times must increase strictly, got {self.times}")

    @property
    def end_time(self) -> float:
        return float(self.times[-1])

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """Command at time(s) t: (J,) for a scalar, (N, J) for an array."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        k = np.clip(np.searchsorted(self.times, ts, side="right") - 1, 0, self.times.size - 1)
        nxt = np.minimum(k + 1, self.times.size - 1)
        span = np.where(nxt > k, self.times[nxt] - self.times[k], 1.0)
        s = min_jerk((ts - self.times[k]) / span)
        s = np.where(nxt > k, s, 0.0)[:, None]
        out = self.waypoints[k] + s * (self.waypoints[nxt] - self.waypoints[k])
        return out[0] if np.ndim(t) == 0 else out


class ArmKinematics:
    """IK and static gravity compensation of the right arm on a private MjData (never the simulator's)."""

    def __init__(self, model, base_qpos: np.ndarray, joint_qpos_adr: dict[str, int], joint_dof_adr: dict[str, int]) -> None:
        import mujoco

        self._mj = mujoco
        self.model = model
        self.base_qpos = np.asarray(base_qpos, dtype=np.float64).copy()
        self.qadr, self.dadr = joint_qpos_adr, joint_dof_adr
        self._data = mujoco.MjData(model)
        self._kp = limits_array("kp")

    def arm_qpos(self, arm_q: np.ndarray) -> np.ndarray:
        """Full qpos: the base configuration with the 14 ARMS joints set to `arm_q`."""
        qpos = self.base_qpos.copy()
        for name, value in zip(ARMS, arm_q):
            qpos[self.qadr[name]] = value
        return qpos

    def solve(self, target: np.ndarray, arm_seed: np.ndarray, fallback_seed: np.ndarray | None = None) -> np.ndarray:
        """ARMS-order joint positions putting the right palm at `target`; raises if it is not reachable.

        Damped least squares can stall at a joint limit from an unlucky start: `fallback_seed` is tried next.
        """
        result = None
        for start in (arm_seed, fallback_seed):
            if start is None:
                continue
            qpos = self.arm_qpos(start)
            seed = np.array([qpos[self.qadr[n]] for n in IK_JOINTS])
            result = solve_site_position(self.model, RIGHT_PALM, target, IK_JOINTS, qpos=qpos, seed=seed)
            if result.converged:
                arm_seed = start
                break
        if not result.converged:
            raise ValueError(f"IK for the right palm at {np.round(target, 3).tolist()} did not converge "
                             f"(error {result.error:.4f} m): target outside the arm's reach")
        out = np.asarray(arm_seed, dtype=np.float64).copy()
        for name, value in zip(IK_JOINTS, result.q):
            out[ARMS.index(name)] = value
        return out

    def gravity_compensated(self, arm_q: np.ndarray) -> np.ndarray:
        """Arm command whose PD equilibrium (kp of the G1 table, no feed-forward torque) is `arm_q`."""
        mj, d = self._mj, self._data
        d.qpos[:] = self.arm_qpos(arm_q)
        d.qvel[:] = 0.0
        mj.mj_forward(self.model, d)
        bias = np.array([d.qfrc_bias[self.dadr[n]] for n in ARMS])
        kp = self._kp[[JOINT_INDEX[n] for n in ARMS]]
        return np.asarray(arm_q, dtype=np.float64) + bias / kp


def _segment_time(distance: float, cfg: ExpertConfig) -> float:
    return float(np.clip(distance / cfg.speed, cfg.min_segment, cfg.max_segment))


class ReachExpert:
    """Plans the reach episode of a SimRobot at its current reset; `command(t)` gives ARMS-order commands."""

    def __init__(self, robot, config: ExpertConfig | None = None) -> None:
        import mujoco

        self.config = cfg = config or ExpertConfig()
        m = robot.model
        qadr = {n: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)]) for n in ARMS}
        dadr = {n: int(m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)]) for n in ARMS}
        base = robot.data.qpos.copy()
        hold_arm = np.array([robot.hold_q[JOINT_INDEX[n]] for n in ARMS])
        base[[qadr[n] for n in ARMS]] = hold_arm
        self.kin = ArmKinematics(m, base, qadr, dadr)
        self.cube = robot.world.cube_pos()
        self.hold_arm = hold_arm
        start_palm = self._palm(hold_arm)
        approach = self.cube + np.array([0.0, 0.0, cfg.approach_height])
        touch = self.cube + np.array([0.0, 0.0, cfg.touch_height])
        q_approach = self.kin.solve(approach, hold_arm)
        q_touch = self.kin.solve(touch, q_approach)
        t1 = cfg.start_pause
        t2 = t1 + _segment_time(float(np.linalg.norm(approach - start_palm)), cfg)
        t3 = t2 + cfg.descend_time
        times = [0.0, t1, t2, t3]
        joints = [hold_arm, hold_arm, q_approach, q_touch]
        if t3 < cfg.duration:
            times.append(cfg.duration)
            joints.append(q_touch)
        self.planned = JointTrajectory(np.array(times), np.stack(joints))  # joint positions (IK)
        commands = np.stack([self.kin.gravity_compensated(q) for q in joints])
        self.trajectory = JointTrajectory(np.array(times), commands)  # what is sent (gravity-compensated)
        self.touch_target = touch

    def _palm(self, arm_q: np.ndarray) -> np.ndarray:
        mj, d = self.kin._mj, self.kin._data
        d.qpos[:] = self.kin.arm_qpos(arm_q)
        mj.mj_kinematics(self.kin.model, d)
        return d.site(RIGHT_PALM).xpos.copy()

    @property
    def duration(self) -> float:
        return max(self.config.duration, self.trajectory.end_time)

    def command(self, t: float | np.ndarray) -> np.ndarray:
        """ARMS-order joint command(s) at episode time t (s since the expert's start)."""
        return self.trajectory(t)
