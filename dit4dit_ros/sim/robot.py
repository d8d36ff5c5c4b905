"""SimRobot: the G1 on its stand in MuJoCo, driven exactly like the robot's motor drivers (ROS- and DDS-free).

Each physics step (dt 0.002 s, i.e. 500 Hz) every motor applies the robot's joint PD law
    tau = kp (q_des - q) + kd (dq_des - dq) + tau_ff,   clipped to the joint's torque limit (g1/joints.py)
to targets chosen by the control mode:

- BALANCE (start mode): Unitree's balance controller is running. It holds HOLD_POSE with the default gains
  and gravity compensation as feed-forward torque;
  `rt/arm_sdk` commands take over the waist and arms blended by their weight w (motor_cmd[29].q):
  target = (1 - w) * hold + w * command, for q, dq, kp, kd and tau_ff alike. When arm_sdk commands stop for
  `command_timeout`, the controller takes the arms back by ramping w from its last value to 0 over
  `arm_sdk_release_time` (no jump).
- LOWCMD: the first valid `rt/lowcmd` releases the balance controller (on the robot that takes the motion
  switcher; here the command itself does it) and every motor follows rt/lowcmd. Motors with mode 0 are off.
  rt/arm_sdk is then ignored (counted), as on the robot without its balance controller.
- DAMPING: entered when rt/lowcmd stops for `command_timeout` (or as `start_mode`): kp = 0, dq = 0, tau = 0,
  kd = `damping_kd` on every joint. A new valid rt/lowcmd returns to LOWCMD.

Commands are ignored and counted when the CRC is wrong, when they contain non-finite values or negative
gains, when a rt/lowcmd carries another mode_machine than the one this robot reports, or when mode_pr is AB
(this model has the pitch/roll joints only). Timeouts run on simulation time, so pausing the simulation
(lock-step) never triggers them.

Thread model: DDS callbacks call `submit()` from their threads (the latest command per path is kept, like the
robot's control loop does); everything else, including `request_reset`'s work, happens in the thread that
calls `step()`.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum

import numpy as np

from dit4dit_ros.g1.hands import HAND_KD
from dit4dit_ros.g1.joints import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, limits_array
from dit4dit_ros.g1.lowcmd import ARM_SDK_JOINT_INDICES, MODE_PR_PITCH_ROLL, ControlPath, LowCmdSample
from dit4dit_ros.sim.hands import SimHands
from dit4dit_ros.sim.scene import SceneConfig, build_model
from dit4dit_ros.sim.tasks import TASKS, Task, TaskStatus, TaskWorld, make_task
from dit4dit_ros.utils.param_fields import param_field

LOG = logging.getLogger(__name__)
GRAVITY = 9.81

# The balance controller's posture on the stand: slightly bent legs; upper arms slightly back and out, forearms
# pointing forward and up, so that the hands start above the table top (never under its edge) and out of the
# ego camera's view of the object region, from where they can reach down onto the table.
HOLD_POSE: dict[str, float] = {
    "left_hip_pitch_joint": -0.1, "right_hip_pitch_joint": -0.1,
    "left_knee_joint": 0.3, "right_knee_joint": 0.3,
    "left_ankle_pitch_joint": -0.2, "right_ankle_pitch_joint": -0.2,
    "left_shoulder_pitch_joint": 0.6, "right_shoulder_pitch_joint": 0.6,
    "left_shoulder_roll_joint": 0.3, "right_shoulder_roll_joint": -0.3,
    "left_elbow_joint": -0.9, "right_elbow_joint": -0.9,
}


def hold_pose_array(overrides: dict[str, float] | None = None) -> np.ndarray:
    """HOLD_POSE (plus `overrides`) as a (29,) array in SDK motor order; unspecified joints are 0."""
    q = np.zeros(NUM_JOINTS)
    for name, value in {**HOLD_POSE, **(overrides or {})}.items():
        if name not in JOINT_INDEX:
            raise ValueError(f"hold pose names unknown joint {name!r}; expected names from {list(JOINT_NAMES)}")
        q[JOINT_INDEX[name]] = value
    return q


class ControlMode(str, Enum):
    BALANCE = "balance"
    LOWCMD = "lowcmd"
    DAMPING = "damping"


@dataclass(frozen=True)
class SimRobotConfig:
    scene: SceneConfig = field(default_factory=SceneConfig)
    task: str = param_field("reach", "tabletop task", choices=tuple(TASKS))
    mode_machine: int = param_field(5, "robot type reported in LowState (rt/lowcmd must echo it)", minimum=0,
                                    maximum=255)  # the value of a real 29-DoF G1 is not verified here
    command_timeout: float = param_field(0.2, "sim seconds without a valid command before damping / arm release",
                                         minimum=0.01, maximum=10.0)
    damping_kd: float = param_field(2.0, "joint damping in damping mode [N*m*s/rad]", minimum=0.1, maximum=20.0)
    arm_sdk_release_time: float = 1.0  # s to ramp the arm_sdk weight back to 0 after arm_sdk commands stop
    start_mode: ControlMode = param_field("balance", "balance: Unitree balance controller holds the pose (arm_sdk "
                                          "works); damping: robot on a gantry with nothing running",
                                          choices=("balance", "damping"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_mode", ControlMode(self.start_mode))
        if self.start_mode is ControlMode.LOWCMD:
            raise ValueError("start_mode must be 'balance' or 'damping' (lowcmd starts with the first command)")
        if not 0 <= self.mode_machine <= 255:
            raise ValueError(f"mode_machine must be a uint8, got {self.mode_machine}")
        if self.command_timeout <= 0 or self.damping_kd <= 0 or self.arm_sdk_release_time <= 0:
            raise ValueError("command_timeout, damping_kd and arm_sdk_release_time must be positive")
        make_task(self.task)  # raises for an unknown task name


@dataclass
class SimCounters:
    """What happened to the commands the robot received (for tests, status and benches)."""

    steps: int = 0
    lowcmd_received: int = 0
    arm_sdk_received: int = 0
    applied: int = 0  # commands accepted into the control loop
    bad_crc: int = 0
    invalid: int = 0  # non-finite values, negative gains
    mode_machine_mismatch: int = 0
    unsupported_mode_pr: int = 0
    ignored_arm_sdk: int = 0  # arm_sdk while the balance controller is released
    timeouts: int = 0
    resets: int = 0


@dataclass(frozen=True)
class SimState:
    """The robot's sensors at one instant (what LowState reports)."""

    time: float
    q: np.ndarray
    dq: np.ndarray
    ddq: np.ndarray
    tau: np.ndarray  # applied (clipped) motor torque, reported as tau_est
    imu_quat: np.ndarray
    imu_gyro: np.ndarray
    imu_acc: np.ndarray
    mode: ControlMode
    mode_pr: int

    @property
    def tick(self) -> int:
        """LowState tick: milliseconds of simulation time."""
        return int(round(self.time * 1000.0))


class SimRobot:
    def __init__(self, config: SimRobotConfig | None = None, hold_pose: np.ndarray | None = None, seed: int = 0) -> None:
        import mujoco

        self._mj = mujoco
        self.config = config or SimRobotConfig()
        self.model = build_model(self.config.scene)
        self.data = mujoco.MjData(self.model)
        self.dt = float(self.model.opt.timestep)
        self.hold_q = hold_pose_array() if hold_pose is None else np.asarray(hold_pose, dtype=np.float64)
        if self.hold_q.shape != (NUM_JOINTS,):
            raise ValueError(f"hold_pose must have shape ({NUM_JOINTS},), got {self.hold_q.shape}")
        self._default_kp = limits_array("kp")
        self._default_kd = limits_array("kd")
        self._torque_limit = limits_array("torque_limit")
        joint_ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES]
        self._qadr = self.model.jnt_qposadr[joint_ids].copy()
        self._dadr = self.model.jnt_dofadr[joint_ids].copy()
        act_ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, n.removesuffix("_joint")) for n in JOINT_NAMES]
        self._act = np.array(act_ids)
        self._sensor = {name: self.model.sensor(name) for name in ("imu_quat", "imu_gyro", "imu_acc")}
        # Dex3-1 hands (scene hands='dex3'): their own motor drivers, same timeout, damping at the hand's kd.
        self.hands: SimHands | None = (SimHands(self.model, self.data, self.config.command_timeout, HAND_KD)
                                       if SimHands.model_has_hands(self.model) else None)
        self.task: Task = make_task(self.config.task)
        self.world = TaskWorld(self.model, self.data, self.config.scene)
        self.counters = SimCounters()
        self._lock = threading.Lock()
        self._pending: dict[ControlPath, LowCmdSample | None] = {ControlPath.LOWCMD: None, ControlPath.ARM_SDK: None}
        self._reset_request: int | None = None
        self._reset_done = threading.Condition(self._lock)
        # When a requested reset may happen (stepping thread): a lock-stepped loop allows it only at a frame, so that
        # every episode starts at the same phase of the frame grid, whenever the request came (sim/loop.py).
        self.reset_gate: Callable[[], bool] = lambda: True
        self._warned: set[str] = set()
        self.seed = int(seed)
        self.reset(self.seed)

    # ---------------------------------------------------------------- episode
    def reset(self, seed: int) -> TaskStatus:
        """Robot to HOLD_POSE at rest in `start_mode`, objects placed by the task from `seed`.

        Simulation time keeps running (it is the ROS clock in sim: it must never jump backwards).
        """
        mj = self._mj
        now = float(self.data.time)
        mj.mj_resetData(self.model, self.data)
        self.data.time = now
        self.data.qpos[self._qadr] = self.hold_q
        if self.hands is not None:
            self.hands.reset()
        self.seed = int(seed)
        self.task.reset(self.world, np.random.default_rng(self.seed))
        mj.mj_forward(self.model, self.data)
        self.mode = self.config.start_mode
        self.mode_pr = MODE_PR_PITCH_ROLL
        self._lowcmd: LowCmdSample | None = None
        self._lowcmd_time = -np.inf
        self._arm: LowCmdSample | None = None
        self._arm_time = -np.inf
        self._arm_release_from: float | None = None  # weight when the arm_sdk stream stopped
        self._tau = np.zeros(NUM_JOINTS)
        self.episode_start = now
        with self._lock:
            self._pending = {ControlPath.LOWCMD: None, ControlPath.ARM_SDK: None}
        self.counters.resets += 1
        return self.task_status()

    @property
    def reset_pending(self) -> bool:
        """A reset was requested and the stepping thread has not carried it out yet."""
        return self._reset_request is not None

    def request_reset(self, seed: int, timeout: float | None = None) -> bool:
        """Ask the stepping thread to reset at its next step; wait up to `timeout` s for it (None: don't wait)."""
        with self._lock:
            self._reset_request = int(seed)
            if timeout is None:
                return False
            return self._reset_done.wait_for(lambda: self._reset_request is None, timeout=timeout)

    def task_status(self) -> TaskStatus:
        success, metrics = self.task.evaluate(self.world)
        return TaskStatus(task=self.task.name, instruction=self.task.instruction, seed=self.seed, success=bool(success),
                          episode_time=round(float(self.data.time) - self.episode_start, 6), metrics=metrics)

    def robot_status(self) -> dict:
        """Control mode and command counters (JSON-ready), for status topics and tests."""
        return {"mode": self.mode.value, "sim_time": round(self.time, 6), "counters": asdict(self.counters)}

    # ---------------------------------------------------------------- commands
    def submit(self, path: ControlPath | str, sample: LowCmdSample) -> bool:
        """Offer a received command (any thread). Returns whether it was accepted."""
        path = ControlPath(path)
        c = self.counters
        with self._lock:
            if path is ControlPath.LOWCMD:
                c.lowcmd_received += 1
            else:
                c.arm_sdk_received += 1
            if not sample.crc_ok:
                c.bad_crc += 1
                return False
            problems = sample.problems()
            weight_ok = np.isfinite(sample.arm_sdk_weight) and 0.0 <= sample.arm_sdk_weight <= 1.0
            if problems or (path is ControlPath.ARM_SDK and not weight_ok):
                c.invalid += 1
                self._warn_once(f"invalid-{path.value}", f"ignoring invalid {path.value} command: {problems or 'weight'}")
                return False
            if sample.mode_pr != MODE_PR_PITCH_ROLL:
                c.unsupported_mode_pr += 1
                self._warn_once("mode_pr", "ignoring commands with mode_pr=1 (AB): the sim models pitch/roll joints only")
                return False
            if path is ControlPath.LOWCMD and sample.mode_machine != self.config.mode_machine:
                c.mode_machine_mismatch += 1
                self._warn_once("mode_machine", f"ignoring rt/lowcmd with mode_machine {sample.mode_machine}; "
                                                f"this robot reports {self.config.mode_machine} in LowState")
                return False
            self._pending[path] = sample
            return True

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning(text)

    def _take_pending(self) -> None:
        with self._lock:
            if self._reset_request is not None and self.reset_gate():
                seed = self._reset_request
                self._lock.release()
                try:
                    self.reset(seed)
                finally:
                    self._lock.acquire()
                self._reset_request = None
                self._reset_done.notify_all()
            low, arm = self._pending[ControlPath.LOWCMD], self._pending[ControlPath.ARM_SDK]
            self._pending = {ControlPath.LOWCMD: None, ControlPath.ARM_SDK: None}
        now = float(self.data.time)
        if low is not None:
            if self.mode is not ControlMode.LOWCMD:
                LOG.info("rt/lowcmd takes over all motors (was %s)", self.mode.value)
            self.mode = ControlMode.LOWCMD
            self._lowcmd, self._lowcmd_time = low, now
            self.mode_pr = low.mode_pr
            self.counters.applied += 1
        if arm is not None:
            if self.mode is ControlMode.BALANCE:
                self._arm, self._arm_time, self._arm_release_from = arm, now, None
                self.counters.applied += 1
            else:
                self.counters.ignored_arm_sdk += 1

    # ---------------------------------------------------------------- control law
    def _arm_weight(self, now: float) -> float:
        if self._arm is None:
            return 0.0
        age = now - self._arm_time
        if age <= self.config.command_timeout:
            return float(self._arm.arm_sdk_weight)
        if self._arm_release_from is None:
            self._arm_release_from = float(self._arm.arm_sdk_weight)
            self.counters.timeouts += 1
            LOG.info("rt/arm_sdk stopped: balance controller takes the arms back")
        ramp = (age - self.config.command_timeout) / self.config.arm_sdk_release_time
        weight = self._arm_release_from * max(0.0, 1.0 - ramp)
        if weight == 0.0:
            self._arm = None
        return weight

    def targets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(q_des, dq_des, kp, kd, tau_ff) that the motors run now."""
        now = float(self.data.time)
        zeros = np.zeros(NUM_JOINTS)
        if self.mode is ControlMode.LOWCMD and now - self._lowcmd_time > self.config.command_timeout:
            LOG.warning("rt/lowcmd stopped for %.3f s: damping", now - self._lowcmd_time)
            self.mode = ControlMode.DAMPING
            self.counters.timeouts += 1
        if self.mode is ControlMode.DAMPING:
            return zeros, zeros, zeros, np.full(NUM_JOINTS, self.config.damping_kd), zeros
        if self.mode is ControlMode.LOWCMD:
            cmd = self._lowcmd
            on = (cmd.motor_mode == 1).astype(np.float64)
            return cmd.q, cmd.dq, cmd.kp * on, cmd.kd * on, cmd.tau * on
        # The balance controller: default gains plus gravity compensation (MuJoCo's bias force of the last step),
        # so that the pose does not sag (the waist at kp 40 would droop ~0.27 rad under the torso's weight).
        q, dq, kp, kd = self.hold_q.copy(), zeros.copy(), self._default_kp.copy(), self._default_kd.copy()
        tau = self.data.qfrc_bias[self._dadr].copy()
        w = self._arm_weight(now)
        if w > 0.0 and self._arm is not None:
            idx, a = ARM_SDK_JOINT_INDICES, self._arm
            for dst, src in ((q, a.q), (dq, a.dq), (kp, a.kp), (kd, a.kd), (tau, a.tau)):
                dst[idx] = (1.0 - w) * dst[idx] + w * src[idx]
        return q, dq, kp, kd, tau

    def step(self, n: int = 1) -> None:
        """Advance `n` physics steps, applying the PD law with the latest commands at every step."""
        mj = self._mj
        for _ in range(n):
            self._take_pending()
            q_des, dq_des, kp, kd, tau_ff = self.targets()
            q = self.data.qpos[self._qadr]
            dq = self.data.qvel[self._dadr]
            tau = kp * (q_des - q) + kd * (dq_des - dq) + tau_ff
            self._tau = np.clip(tau, -self._torque_limit, self._torque_limit)
            self.data.ctrl[self._act] = self._tau
            if self.hands is not None:
                self.hands.apply(float(self.data.time))
            mj.mj_step(self.model, self.data)
            self.counters.steps += 1

    @property
    def time(self) -> float:
        return float(self.data.time)

    def state(self) -> SimState:
        d = self.data
        return SimState(
            time=float(d.time),
            q=d.qpos[self._qadr].copy(),
            dq=d.qvel[self._dadr].copy(),
            ddq=d.qacc[self._dadr].copy(),
            tau=self._tau.copy(),
            imu_quat=self._sensor_data("imu_quat"),
            imu_gyro=self._sensor_data("imu_gyro"),
            imu_acc=self._sensor_data("imu_acc"),
            mode=self.mode,
            mode_pr=self.mode_pr,
        )

    def _sensor_data(self, name: str) -> np.ndarray:
        s = self._sensor[name]
        return self.data.sensordata[s.adr[0]:s.adr[0] + s.dim[0]].copy()

    def set_joint_positions(self, q: np.ndarray, names: tuple[str, ...] | list[str] = JOINT_NAMES) -> None:
        """Teleport joints (zero velocity) and recompute kinematics: for tests and scripted resets."""
        idx = np.array([JOINT_INDEX[n] for n in names])
        self.data.qpos[self._qadr[idx]] = q
        self.data.qvel[self._dadr[idx]] = 0.0
        self._mj.mj_forward(self.model, self.data)

    def snapshot(self) -> dict[str, np.ndarray]:
        """What a renderer needs to redraw this instant in another MjData (qpos + mocap poses + time)."""
        return {"qpos": self.data.qpos.copy(), "mocap_pos": self.data.mocap_pos.copy(),
                "mocap_quat": self.data.mocap_quat.copy(), "time": np.array(self.data.time)}
