"""Lock-stepped simulator episodes driven through the chunk executor, without ROS or DDS.

One loop serves both demonstration collection (the scripted expert produces the chunks) and closed-loop
evaluation (the policy engine produces them), so that the data and the evaluation see the same plant:

    every frame (1 / fps of simulation time):
        render the ego image, read the measured arm joints          <- observation
        the caller may submit an action chunk (points spaced 1/fps, point 0 at the observation time)
        simulate one frame period: at every physics step (500 Hz) ExecutorCore.tick(sim time, state)
        -> a rt/arm_sdk command (weight from the executor) offered to SimRobot, then mj_step

The plant is the graph's: the SimRobot answering rt/arm_sdk, read through its public state, and the executor
core configured from the same deployment file as the graph's executor node (config/g1_sim.yaml, its `executor`
section, with the same task adaptation: `control.executor_params.hands_parameters`). So the waist is held by the
executor's gravity feed-forward g(q_measured), the safety limits, blending and soft start are the node's, and
graph and direct results differ only by timing. Reach chunks carry the arms' own gravity offset (q + g/kp, the
scripted expert's targets); the sim deployment gives feed-forward to the waist only, and to waist and arms on a
robot with the Dex3-1 hands, whose chunks are the arm poses themselves.

With Dex3-1 hands (the pick_place scene) a chunk may carry two more columns, the left and right gripper
(0 open .. 1 closed, the official G1 layout): they go with the chunk to the executor, whose HandController
targets their value at the current time (held after the chunk's end) at 100 Hz (HAND_PERIOD) with rate-,
position- and torque-limited commands (damping in DAMPING/ESTOP), as the executor node does on rt/dex3. Observations then
carry the measured grippers.

Simulation time stands still while the caller thinks (lock-step), so inference latency does not exist here;
the ROS graph evaluation (`--mode graph`) is where latency is measured. The robot starts each episode in the
balance controller's hold pose; the executor is enabled and its soft start (arm_sdk weight 0 -> 1) completes
before the first frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit4dit_ros.control import ActionChunk, ExecutorConfig, ExecutorCore, MeasuredState, Verdict
from dit4dit_ros.control.hands import HandControlConfig, HandController
from dit4dit_ros.g1.gravity import GravityModel
from dit4dit_ros.g1.hand_command import joints_to_gripper
from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES, HandSide
from dit4dit_ros.g1.joints import ARMS, WAIST, joint_indices
from dit4dit_ros.g1.lowcmd import MODE_PR_PITCH_ROLL, ControlPath, LowCmdSample
from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
from dit4dit_ros.sim.scene import SceneConfig
from dit4dit_ros.sim.tasks import TaskStatus, task_scene

ARM_INDICES = joint_indices(ARMS)
WAIST_INDICES = joint_indices(WAIST)
ARM_SDK_JOINTS = WAIST + ARMS  # what rt/arm_sdk commands (the balance controller keeps the legs)
ARMS_AND_GRIPPERS = ARMS + ALL_GRIPPER_NAMES  # the official G1 layout's channels
HAND_PERIOD = 0.01  # s between hand commands (the Dex3-1 runs its commands at 100 Hz)


@dataclass(frozen=True)
class RunnerConfig:
    task: str = "reach"
    fps: int = 10  # frames (and chunk points) per second of simulation time; must divide 500
    image_size: tuple[int, int] = (64, 64)  # (H, W) of the ego image
    fast_render: bool = True  # no shadows/reflections/skybox: ~5x cheaper on llvmpipe (see sim/camera.py)
    render: bool = True  # False: observations carry no image (expert checks without a camera)
    settle_time: float | None = None  # s between enable and the first frame; None: the soft start + 0.2 s
    # None: the executor node's configuration from `deployment` (module docstring)
    executor: ExecutorConfig | None = None
    deployment: Path | None = None  # None: config/g1_sim.yaml, what `dit4dit eval --mode graph` runs
    scene: SceneConfig | None = None  # None: the task's own scene (sim/tasks.py task_scene)

    def __post_init__(self) -> None:
        if self.scene is None:
            object.__setattr__(self, "scene", task_scene(self.task))
        if self.executor is None:
            from dit4dit_ros.control.executor_params import executor_config_from_file, hands_parameters
            from dit4dit_ros.paths import config_file

            path = self.deployment or config_file("g1_sim.yaml")
            object.__setattr__(self, "executor", executor_config_from_file(path, hands_parameters(self.scene.hands)))
        if tuple(self.executor.controllable_joints) != ARM_SDK_JOINTS:
            raise ValueError("the episode runner speaks rt/arm_sdk: its executor must control the waist and arms "
                             f"{list(ARM_SDK_JOINTS)}, got {list(self.executor.controllable_joints)}")
        if self.settle_time is None:
            object.__setattr__(self, "settle_time", self.executor.soft_start_time + 0.2)
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise ValueError(f"fps must be a positive integer, got {self.fps!r}")
        steps = CONTROL_RATE_HZ / self.fps
        if not math.isclose(steps, round(steps)):
            raise ValueError(f"fps {self.fps} must divide the 500 Hz physics rate (e.g. 10, 20, 25, 50)")
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        if len(self.image_size) != 2 or min(self.image_size) < 16:
            raise ValueError(f"image_size must be (height, width) >= 16 px, got {self.image_size}")
        if self.settle_time < self.executor.soft_start_time:
            raise ValueError(f"settle_time {self.settle_time} s must cover the executor soft start "
                             f"({self.executor.soft_start_time} s)")


@dataclass(frozen=True)
class Observation:
    image: np.ndarray | None  # (H, W, 3) uint8; None when the runner does not render
    arm_q: np.ndarray  # (14,) measured ARMS joints, radians
    time: float  # s since the first frame of the episode
    status: TaskStatus
    grippers: np.ndarray | None = None  # (2,) measured left/right gripper (0 open .. 1 closed); None: no hands

    @property
    def state(self) -> np.ndarray:
        """The state vector: ARMS, plus the two grippers when the robot has hands (ARMS_AND_GRIPPERS)."""
        return self.arm_q if self.grippers is None else np.concatenate([self.arm_q, self.grippers])


class SimEpisodeRunner:
    """See the module docstring. Not thread-safe; create it in the thread that renders (OpenGL context)."""

    def __init__(self, config: RunnerConfig | None = None) -> None:
        from dit4dit_ros.sim.camera import CameraConfig, SimCamera
        from dit4dit_ros.sim.robot import SimRobot, SimRobotConfig

        self.config = cfg = config or RunnerConfig()
        self.robot = SimRobot(SimRobotConfig(scene=cfg.scene, task=cfg.task))
        h, w = cfg.image_size
        camera = CameraConfig.fast(h, w) if cfg.fast_render else CameraConfig(width=w, height=h, shadows=True,
                                                                              reflections=True)
        self.camera = SimCamera(self.robot.model, camera) if cfg.render else None
        self.steps_per_frame = int(round(1.0 / (cfg.fps * self.robot.dt)))
        self.period = 1.0 / cfg.fps
        self.core: ExecutorCore | None = None
        self._t0 = 0.0
        self._mode_machine = self.robot.config.mode_machine
        self._ones = np.ones(29, dtype=np.int64)
        self._hand_steps = max(1, int(round(HAND_PERIOD / self.robot.dt)))
        self._step_count = 0
        # the executor node's gravity model (fixed-base G1 of g1/model.py, with the hands the robot has): ~2 s to load
        self._gravity = None
        if cfg.executor.gravity_compensation:
            from dit4dit_ros.g1.model import build_robot_model

            hands = "dex3" if self.has_hands else "none"
            self._gravity = GravityModel(build_robot_model(self.robot.dt, hands=hands))

    @property
    def has_hands(self) -> bool:
        return self.robot.hands is not None

    @property
    def state_names(self) -> tuple[str, ...]:
        """Channel names of Observation.state and of the chunks `submit` takes."""
        return ARMS_AND_GRIPPERS if self.has_hands else ARMS

    @property
    def instruction(self) -> str:
        return self.robot.task.instruction

    def reset(self, seed: int) -> Observation:
        """New episode from `seed`: hold pose, fresh executor enabled and soft-started; returns frame 0."""
        self.robot.reset(seed)
        cfg = self.config.executor
        hands = HandController(HandControlConfig(period=HAND_PERIOD)) if self.has_hands else None
        self.core = ExecutorCore(cfg, gravity=self._gravity.torques if self._gravity is not None else None, hands=hands)

        self._tick()  # the executor needs a LowState sample before it can be enabled
        verdict = self.core.enable(self.robot.time)
        if not verdict:
            raise RuntimeError(f"executor refused to enable: {verdict.reason}")
        for _ in range(int(round(self.config.settle_time / self.robot.dt))):
            self._tick()
        self._t0 = self.robot.time
        return self.observe()

    def observe(self) -> Observation:
        image = self.camera.render(self.robot.data) if self.camera is not None else None
        q = self.robot.state().q[ARM_INDICES]
        grippers = None
        if self.has_hands:
            grippers = np.array([joints_to_gripper(side, self.robot.hands.joint_state(side)[0]) for side in HandSide])
        return Observation(image, q, self.robot.time - self._t0, self.robot.task_status(), grippers)

    def submit(self, positions: np.ndarray) -> Verdict:
        """A chunk (H, 14) in ARMS order, or (H, 16) in ARMS_AND_GRIPPERS order on a robot with hands, whose point k
        is for observation time + k / fps. Gripper values outside [0, 1] are refused with the verdict's reason."""
        assert self.core is not None, "reset() first"
        points = np.asarray(positions, dtype=np.float64)
        widths = (len(ARMS), len(ARMS_AND_GRIPPERS)) if self.has_hands else (len(ARMS),)
        if points.ndim != 2 or points.shape[1] not in widths:
            raise ValueError(f"chunk positions must be (H, {' or '.join(map(str, widths))}) in "
                             f"{'ARMS(+grippers)' if self.has_hands else 'ARMS'} order, got {points.shape}")
        arms, grips = points[:, :len(ARMS)], points[:, len(ARMS):]
        names = ARM_SDK_JOINTS + (ALL_GRIPPER_NAMES if grips.size else ())
        now = self.robot.time
        # the executor sends the joints and gives the gripper columns to its hands' controller
        chunk = ActionChunk.uniform(names, np.hstack([np.tile(self.robot.hold_q[WAIST_INDICES], (len(arms), 1)), arms, grips]), stamp=now,
                                    period=self.period)
        return self.core.submit_chunk(chunk, now)

    def _command_hands(self, now: float) -> None:
        """Feed the executor the hands' state; send its hand commands (the gripper column of the current chunk,
        limited, or damping) to the hands."""
        core, hands = self.core, self.robot.hands
        for side in HandSide:
            core.observe_hand(side, hands.joint_state(side)[0], now)
        for side, command in core.hand_commands(now).items():
            hands.submit(side, command)

    def advance(self) -> Observation:
        """Simulate one frame period and return the next observation."""
        for _ in range(self.steps_per_frame):
            self._tick()
        return self.observe()

    def _tick(self) -> None:
        robot, core = self.robot, self.core
        now = robot.time
        measured = robot.state()
        state = MeasuredState(measured.q, measured.dq, now)
        cmd = core.tick(now, state)
        if cmd.send:
            sample = LowCmdSample(q=cmd.q, dq=cmd.dq, kp=cmd.kp, kd=cmd.kd, tau=cmd.tau, motor_mode=self._ones,
                                  mode_pr=MODE_PR_PITCH_ROLL, mode_machine=self._mode_machine,
                                  arm_sdk_weight=float(cmd.arm_sdk_weight), crc_ok=True, receive_time=now)
            robot.submit(ControlPath.ARM_SDK, sample)
        if self.has_hands and self._step_count % self._hand_steps == 0:
            self._command_hands(now)
        self._step_count += 1
        robot.step()

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
