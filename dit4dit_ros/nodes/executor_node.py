"""Executor node: action chunks and teleop targets in, safe 500 Hz G1 joint commands out (a thin shell).

All decisions are made by dit4dit_ros.control.ExecutorCore; this node only moves data:
- `/dit4dit/action_chunk` (trajectory_msgs/JointTrajectory; header.stamp = observation time, points spaced by
  time_from_start) -> core.submit_chunk. With clock:=steady (the robot) the stamp (ROS clock) is mapped onto
  the monotonic clock at receipt: obs_monotonic = now_monotonic - (now_ros - stamp). With clock:=ros (a
  lock-stepped simulator that freezes its /clock and its LowState while the policy thinks) the core runs on
  the ROS clock itself and ticks are skipped while it stands still, so nothing times out during a pause.
- `/dit4dit/teleop/joint_command` (sensor_msgs/JointState: `name` + `position`, other fields ignored) ->
  core.submit_teleop. JointState because a teleop device (leader arm, VR retargeting) streams joint
  setpoints, not trajectories; its targets are applied on receipt.
- `rt/lowstate` is read directly with the Unitree SDK (g1/dds.py): the freshest state, no ROS hop. The
  control thread takes what arrived at the start of each tick (no listener thread that could starve).
  State ages (the LowState watchdog): clock:=steady stamps each sample with the monotonic time of its take;
  clock:=ros stamps it with the robot's own time, LowState `tick` (milliseconds of simulation time, which the
  simulator fills from the same clock it publishes on /clock), and the core's now is the later of the ROS
  clock and that robot time, so a starved /clock subscription can neither make a live robot look stale nor
  stop the ticks while the robot runs (docs/realtime.md).
- A dedicated thread (control/rate.py, PeriodicThread) runs core.tick at `tick_rate` and writes LowCmd_ on
  `rt/arm_sdk` or `rt/lowcmd` with the Unitree SDK. Not a ROS timer: rclpy timers share the executor's
  Python callback queue with every subscription and service of the node, so a slow callback would stretch
  the control period; the thread sleeps to absolute deadlines on the monotonic clock and is independent of
  ROS traffic (and of /clock, which may stall in simulation).
- Services (std_srvs/Trigger) ~/enable, ~/disable, ~/estop, ~/reset_estop; `/dit4dit/estop`
  (std_msgs/Bool, True latches the e-stop; False does nothing: only ~/reset_estop clears it).
- `/dit4dit/executor/state` (std_msgs/String, JSON: mode, rates, last rejection, counters) and /diagnostics.
- Shutdown (SIGINT/SIGTERM, or the process being stopped by `dit4dit run`): damping commands for
  `disable_damping_time`, then the command stream stops.

Calls into the core are serialised by one lock (a tick takes ~0.1 ms; see `dit4dit bench executor`).
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.control import (
    ExecutorConfig,
    ExecutorCore,
    JointCommand,
    MeasuredState,
    Mode,
    SafetyConfig,
    SchedulerConfig,
    WatchdogConfig,
)
from dit4dit_ros.control.chunk import chunk_from_points
from dit4dit_ros.control.rate import PeriodicThread
from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, WAIST
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import COMMANDS, DIAGNOSTICS, state_qos
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.utils.dds_transport import configure_ros_transport
from dit4dit_ros.utils.dds_env import MAX_CYCLONE_DOMAIN, DdsIsolation, isolation_from_env
from dit4dit_ros.utils.streams import RateMeter

NODE_NAME = "executor"
CONTROL_PATHS = ("arm_sdk", "lowcmd")
CLOCKS = ("steady", "ros")

_S, _C, _W, _E = SafetyConfig(), SchedulerConfig(), WatchdogConfig(), ExecutorConfig()

PARAMETERS: tuple[ParamSpec, ...] = (
    # robot interface
    ParamSpec("unitree_domain_id", -1, "CycloneDDS domain of the robot (real G1: 0); -1 = $DIT4DIT_UNITREE_DOMAIN",
              minimum=-1, maximum=MAX_CYCLONE_DOMAIN),
    ParamSpec("unitree_interface", "", "network interface to the robot ('lo' in sim); empty = $DIT4DIT_UNITREE_INTERFACE"),
    ParamSpec("lowstate_topic", "rt/lowstate", "Unitree DDS topic of LowState_"),
    ParamSpec("control_path", "arm_sdk", "rt/arm_sdk (upper body, robot balances itself) or rt/lowcmd (all motors: "
              "robot on a gantry only)", choices=CONTROL_PATHS),
    ParamSpec("mode_pr", 0, "LowCmd mode_pr: 0 = pitch/roll ankle+waist, 1 = A/B motors", minimum=0, maximum=1),
    ParamSpec("controllable_joints", ["auto"], "G1 joint names chunks/teleop may command; ['auto'] = waist+arms on "
              "arm_sdk, all 29 on lowcmd", type="str_array"),
    ParamSpec("clock", "steady", "time base of chunk stamps, state ages and watchdogs: 'steady' (monotonic; the robot) "
              "or 'ros' (the node's ROS clock: follows a lock-stepped simulator's /clock, no ticks while it is frozen)",
              choices=CLOCKS),
    ParamSpec("tick_rate", 500.0, "control rate [Hz] (the G1 low-level loop runs at 500 Hz)", minimum=50.0, maximum=1000.0),
    ParamSpec("auto_enable", False, "enable as soon as a valid LowState arrives (demos; otherwise call ~/enable)"),
    # topics
    ParamSpec("chunk_topic", "/dit4dit/action_chunk", "trajectory_msgs/JointTrajectory action chunks"),
    ParamSpec("teleop_topic", "/dit4dit/teleop/joint_command", "sensor_msgs/JointState teleop joint targets"),
    ParamSpec("estop_topic", "/dit4dit/estop", "std_msgs/Bool: True latches the e-stop"),
    ParamSpec("state_topic", "/dit4dit/executor/state", "std_msgs/String JSON executor state"),
    ParamSpec("command_topic", "/dit4dit/executor/command",
              "sensor_msgs/JointState of the tracking commands actually sent (position=q, velocity=dq, effort=tau) "
              "for recording; empty = off"),
    ParamSpec("command_topic_rate", 100.0, "rate of command_topic [Hz], decimated from the control rate",
              minimum=1.0, maximum=1000.0),
    ParamSpec("default_action_period", 1.0 / 30.0, "spacing of chunk points whose time_from_start are all 0 [s]",
              minimum=0.001, maximum=1.0),
    ParamSpec("state_rate", 10.0, "rate of the state topic [Hz]", minimum=0.5, maximum=100.0),
    ParamSpec("diagnostics_period_s", 1.0, "period of /diagnostics reports [s]", minimum=0.05, maximum=60.0),
    # modes and gains
    ParamSpec("soft_start_time", _E.soft_start_time, "ramp time from the measured pose / arm_sdk weight 0 -> 1 [s]",
              minimum=0.01, maximum=30.0),
    ParamSpec("disable_damping_time", _E.disable_damping_time, "damping before stopping on disable/shutdown [s]",
              minimum=0.01, maximum=10.0),
    ParamSpec("release_weight_on_disable", _E.release_weight_on_disable,
              "ramp the arm_sdk weight to 0 while disabling (the robot's controller takes the arms back)"),
    ParamSpec("kp_scale", _E.kp_scale, "multiplier of the G1 table's default kp", minimum=0.01, maximum=5.0),
    ParamSpec("kd_scale", _E.kd_scale, "multiplier of the G1 table's default kd", minimum=0.0, maximum=5.0),
    ParamSpec("damping_kd", _E.damping_kd, "kd of damping commands [N*m*s/rad]", minimum=0.01, maximum=20.0),
    ParamSpec("gravity_compensation", True, "send the gravity torque of the measured pose (MuJoCo G1 model) as "
              "feed-forward tau while tracking, so that the PD law does not sag (never while damping)"),
    ParamSpec("gravity_compensation_scale", _E.gravity_compensation_scale, "multiplier of the model's gravity torque",
              minimum=0.0, maximum=1.5),
    ParamSpec("gravity_compensation_joints", ["auto"], "G1 joint names that get the feed-forward torque; ['auto'] = "
              "the joints the control path commands (waist+arms on arm_sdk, all 29 on lowcmd)", type="str_array"),
    # safety filter
    ParamSpec("position_margin", _S.position_margin, "distance kept from the joint position limits [rad]",
              minimum=0.0, maximum=0.5),
    ParamSpec("max_velocity", _S.max_velocity, "command velocity cap [rad/s]", minimum=0.01, maximum=40.0),
    ParamSpec("velocity_scale", _S.velocity_scale, "fraction of each joint's hardware velocity limit", minimum=0.01,
              maximum=1.0),
    ParamSpec("max_acceleration", _S.max_acceleration, "command acceleration cap [rad/s^2]", minimum=0.1, maximum=5000.0),
    ParamSpec("torque_scale", _S.torque_scale, "predicted PD torque kept within this fraction of the torque limits",
              minimum=0.01, maximum=1.0),
    ParamSpec("max_tracking_error", _S.max_tracking_error, "largest |q_des - q_measured| [rad]", minimum=0.01,
              maximum=3.0),
    ParamSpec("send_velocity", _S.send_velocity, "send the command velocity as dq (else dq = 0)"),
    # scheduling
    ParamSpec("blend_time", _C.blend_time, "seam from the executed command into a new chunk [s]", minimum=0.002,
              maximum=2.0),
    ParamSpec("teleop_priority_time", _C.teleop_priority_time, "policy chunks leave teleop joints alone this long [s]",
              minimum=0.0, maximum=60.0),
    ParamSpec("max_chunk_latency", _C.max_chunk_latency, "reject chunks whose observation is older [s]",
              minimum=0.01, maximum=10.0),
    ParamSpec("max_future_stamp", _C.max_future_stamp, "tolerated clock skew for chunks stamped ahead [s]",
              minimum=0.0, maximum=1.0),
    ParamSpec("ensemble", _C.ensemble, "ACT temporal ensembling of overlapping chunks"),
    ParamSpec("ensemble_decay", _C.ensemble_decay, "ACT ensembling m (weight exp(-m*i), i=0 oldest)",
              minimum=-10.0, maximum=10.0),
    # watchdogs
    ParamSpec("input_timeout", _W.input_timeout, "no chunk/teleop this long -> HOLD [s]", minimum=0.01, maximum=60.0),
    ParamSpec("hold_timeout", _W.hold_timeout, "HOLD this long without input -> DAMPING [s]", minimum=0.01,
              maximum=600.0),
    ParamSpec("state_timeout", _W.state_timeout, "newest valid LowState older than this -> DAMPING [s]",
              minimum=0.002, maximum=5.0),
    ParamSpec("crc_error_limit", _W.crc_error_limit, "consecutive invalid LowStates -> DAMPING", minimum=1,
              maximum=1000),
)


def executor_config(p: dict) -> ExecutorConfig:
    """The ExecutorConfig of validated parameter values (raises ValueError naming what is inconsistent)."""
    controllable = tuple(p["controllable_joints"])
    path_joints = WAIST + ARMS if p["control_path"] == "arm_sdk" else JOINT_NAMES
    if controllable == ("auto",):
        controllable = path_joints
    gravity_joints = tuple(p["gravity_compensation_joints"])
    if gravity_joints == ("auto",):
        gravity_joints = path_joints
    return ExecutorConfig(
        tick_period=1.0 / p["tick_rate"],
        soft_start_time=p["soft_start_time"],
        disable_damping_time=p["disable_damping_time"],
        release_weight_on_disable=p["release_weight_on_disable"],
        controllable_joints=controllable,
        kp_scale=p["kp_scale"],
        kd_scale=p["kd_scale"],
        damping_kd=p["damping_kd"],
        gravity_compensation=p["gravity_compensation"],
        gravity_compensation_scale=p["gravity_compensation_scale"],
        gravity_joints=gravity_joints,
        safety=SafetyConfig(
            position_margin=p["position_margin"],
            max_velocity=p["max_velocity"],
            velocity_scale=p["velocity_scale"],
            max_acceleration=p["max_acceleration"],
            torque_scale=p["torque_scale"],
            max_tracking_error=p["max_tracking_error"],
            send_velocity=p["send_velocity"],
        ),
        scheduler=SchedulerConfig(
            blend_time=p["blend_time"],
            teleop_priority_time=p["teleop_priority_time"],
            max_chunk_latency=p["max_chunk_latency"],
            max_future_stamp=p["max_future_stamp"],
            ensemble=p["ensemble"],
            ensemble_decay=p["ensemble_decay"],
        ),
        watchdog=WatchdogConfig(
            input_timeout=p["input_timeout"],
            hold_timeout=p["hold_timeout"],
            state_timeout=p["state_timeout"],
            crc_error_limit=p["crc_error_limit"],
        ),
    )


class _RosLogBridge(logging.Handler):
    """Forwards the control core's Python log records (mode transitions) to the node's ROS logger."""

    def __init__(self, ros_logger) -> None:
        super().__init__(logging.INFO)
        self._ros = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            self._ros.error(text)
        elif record.levelno >= logging.WARNING:
            self._ros.warning(text)
        else:
            self._ros.info(text)


def _stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class ExecutorNode(Node):
    """See module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        cfg = executor_config(p)
        self.core = ExecutorCore(cfg, gravity=self._gravity_model() if cfg.gravity_compensation else None)
        core_log = logging.getLogger("dit4dit_ros.control")
        self._log_bridge = _RosLogBridge(self.get_logger())
        core_log.addHandler(self._log_bridge)
        core_log.setLevel(logging.INFO)
        core_log.propagate = False  # one line per transition, in the ROS log
        self._lock = threading.Lock()
        self._latest_state = None  # newest LowStateSample (taken by the control thread)
        self._latest_stamp = 0.0  # the newest sample's stamp on the core's clock
        self._robot_time = float("-inf")  # clock:=ros: newest valid LowState tick as seconds of simulation time
        self._mode_machine: int | None = None
        self._state_rate = RateMeter(window_s=1.0)
        self._cmd_rate = RateMeter(window_s=1.0)
        self._sent = 0
        self._send_failures = 0
        self._tick_errors = 0
        self._estop_latched_at: float | None = None
        self._estop_first_damping_sent_at: float | None = None
        self._auto_enabled = False
        self._stopping = False
        self._ros_clock = p["clock"] == "ros"
        self._last_core_now = float("-inf")

        from dit4dit_ros.g1.dds import LowCmdWriter, LowStatePoller, init_unitree_dds
        from dit4dit_ros.g1.lowcmd import ControlPath

        self.path = ControlPath.ARM_SDK if p["control_path"] == "arm_sdk" else ControlPath.LOWCMD
        env = isolation_from_env()
        self.isolation = init_unitree_dds(DdsIsolation(
            ros_domain_id=env.ros_domain_id,
            unitree_domain_id=env.unitree_domain_id if p["unitree_domain_id"] < 0 else p["unitree_domain_id"],
            unitree_interface=p["unitree_interface"] or env.unitree_interface,
        ))
        self.writer = LowCmdWriter(self.path)
        self.reader = LowStatePoller(topic=p["lowstate_topic"])

        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(JointTrajectory, p["chunk_topic"], self._on_chunk, COMMANDS, callback_group=inputs)
        self.create_subscription(JointState, p["teleop_topic"], self._on_teleop, COMMANDS, callback_group=inputs)
        safety_group = MutuallyExclusiveCallbackGroup()  # e-stop never waits behind a chunk callback
        self.create_subscription(Bool, p["estop_topic"], self._on_estop_topic, COMMANDS, callback_group=safety_group)
        for name, handler in (("~/enable", self._srv_enable), ("~/disable", self._srv_disable),
                              ("~/estop", self._srv_estop), ("~/reset_estop", self._srv_reset_estop)):
            self.create_service(Trigger, name, handler, callback_group=safety_group)
        self.state_pub = self.create_publisher(String, p["state_topic"], state_qos())
        # What the robot was told, for the recorder (the dataset's action): decimated, tracking commands only.
        self.command_pub = self.create_publisher(JointState, p["command_topic"], state_qos()) if p["command_topic"] else None
        self._command_every = max(1, int(round(p["tick_rate"] / p["command_topic_rate"])))
        self._command_ticks = 0
        self._command_idx = np.array([JOINT_NAMES.index(n) for n in self.core.cfg.controllable_joints])
        self._command_names = [JOINT_NAMES[i] for i in self._command_idx]
        self.diag_pub = self.create_publisher(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        self.create_timer(1.0 / p["state_rate"], self._publish_state)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)

        self.loop = PeriodicThread(self.core.cfg.tick_period, self._tick, name="executor-500hz")
        self.loop.start()
        gravity = (f"x{cfg.gravity_compensation_scale:.2f} on {len(cfg.gravity_joints)} joints"
                   if cfg.gravity_compensation else "off")
        self.get_logger().info(
            f"executor: {self.path.value} at {p['tick_rate']:.0f} Hz on Unitree DDS domain "
            f"{self.isolation.unitree_domain_id} ({self.isolation.unitree_interface}); "
            f"{len(self.core.cfg.controllable_joints)} controllable joints; gravity compensation {gravity}; "
            "call ~/enable to start")

    def _gravity_model(self):
        """The MuJoCo G1 gravity model (~2 s to load), or a RuntimeError saying how to run without it."""
        from dit4dit_ros.g1.gravity import GravityModel

        try:
            return GravityModel()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"gravity_compensation needs the MuJoCo G1 model ({exc}); "
                               "set gravity_compensation:=false to run without it") from exc

    def _now(self) -> float:
        """The core's clock (seconds): monotonic, or with clock:=ros the simulation time: the later of the ROS
        clock (/clock) and the newest robot time (LowState tick) the control thread has taken."""
        if self._ros_clock:
            return max(self.get_clock().now().nanoseconds * 1e-9, self._robot_time)
        return time.monotonic()

    # -- control thread -----------------------------------------------------------------------------------
    def _take_lowstate(self) -> None:
        """Every sample that arrived since the last tick goes to the core, oldest first (a CRC-invalid one must
        not hide behind the next valid one). Stamps: monotonic take time, or the robot's own time (clock:=ros)."""
        wall = time.monotonic()
        samples = self.reader.take(wall)
        if not samples:
            return
        with self._lock:
            for sample in samples:
                stamp = sample.tick * 1e-3 if self._ros_clock else wall
                self.core.observe_state(MeasuredState(sample.q, sample.dq, stamp, sample.crc_ok))
                if sample.crc_ok:
                    self._mode_machine = sample.mode_machine
                    self._state_rate.tick(wall)
                    if self._ros_clock:
                        self._robot_time = max(self._robot_time, stamp)
            self._latest_stamp = stamp
        self._latest_state = samples[-1]

    def _tick(self, wall_now: float) -> None:
        self._take_lowstate()
        now = wall_now
        if self._ros_clock:
            now = self._now()
            if now <= self._last_core_now and not self._stopping:
                return  # simulated time is frozen (lock-step pause): the robot is not running either
            self._last_core_now = now
        s = self._latest_state
        try:
            # compute AND send under the lock: an e-stop (which sends its damping command at once, under the
            # same lock) can never be overtaken on the wire by a tracking command computed before it
            with self._lock:
                if (self.p["auto_enable"] and not self._auto_enabled and self.core.mode is Mode.DISABLED
                        and s is not None and now > 0.0):
                    self._auto_enabled = bool(self.core.enable(now)) or self.core.mode is not Mode.DISABLED
                cmd = self.core.tick(now)
                if cmd.send:
                    self._send(cmd)
            if cmd.send and not cmd.is_damping:
                self._publish_command(cmd)
        except Exception as exc:  # never leave the robot with a stale command: latch damping, keep ticking
            self._tick_errors += 1
            self.get_logger().error(f"control tick failed ({exc!r}); e-stop latched", throttle_duration_sec=1.0)
            with self._lock:
                self.core.estop(now, f"control tick failed: {exc!r}")
            self._send_damping()

    def _publish_command(self, cmd: JointCommand) -> None:
        self._command_ticks += 1
        if self.command_pub is None or self._command_ticks % self._command_every:
            return
        idx = self._command_idx
        msg = JointState(name=self._command_names, position=cmd.q[idx].tolist(), velocity=cmd.dq[idx].tolist(),
                         effort=cmd.tau[idx].tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.command_pub.publish(msg)

    def _send(self, cmd: JointCommand) -> bool:
        from dit4dit_ros.g1.lowcmd import ControlPath, MotorCommand

        if self._mode_machine is None:
            return False  # no LowState yet: a command without the robot's mode_machine would be ignored anyway
        weight = float(cmd.arm_sdk_weight) if self.path is ControlPath.ARM_SDK else 1.0
        # write_command encodes the CDR bytes directly (~0.05 ms) instead of cyclonedds-python's ~0.23 ms
        # serializer: at 500 Hz that is the difference between a loaded and an idle control thread.
        if self.writer.write_command(MotorCommand(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau), self._mode_machine,
                                     mode_pr=self.p["mode_pr"], arm_sdk_weight=weight):
            self._sent += 1
            self._cmd_rate.tick(time.monotonic())
            return True
        self._send_failures += 1
        return False

    def _send_damping(self) -> None:
        """Fallback damping straight from the protocol module (used when the core itself failed)."""
        from dit4dit_ros.g1.lowcmd import damping_lowcmd

        if self._mode_machine is None:
            return
        try:
            self.writer.write(damping_lowcmd(self._mode_machine, self.p["damping_kd"], path=self.path,
                                             mode_pr=self.p["mode_pr"]))
        except Exception as exc:  # keep the loop alive: the next tick tries again
            self.get_logger().error(f"fallback damping command failed: {exc!r}", throttle_duration_sec=1.0)

    # -- ROS callbacks ------------------------------------------------------------------------------------
    def _stamp_to_core_clock(self, stamp) -> float:
        """A ROS header stamp on the core's clock (steady: shifted by its age on the ROS clock)."""
        if self._ros_clock:
            return _stamp_seconds(stamp)
        age = self.get_clock().now().nanoseconds * 1e-9 - _stamp_seconds(stamp)
        return time.monotonic() - age

    def _on_chunk(self, msg: JointTrajectory) -> None:
        now = self._now()
        if _stamp_seconds(msg.header.stamp) == 0.0:
            chunk, reason = None, "chunk header.stamp is zero: it must be the observation time"
        else:
            chunk, reason = chunk_from_points(
                list(msg.joint_names), self._stamp_to_core_clock(msg.header.stamp),
                [_stamp_seconds(pt.time_from_start) for pt in msg.points],
                [pt.positions for pt in msg.points], self.p["default_action_period"])
        with self._lock:
            verdict = self.core.submit_chunk(chunk, now) if chunk is not None else self.core.record_rejection("policy", reason)
        if not verdict:
            self.get_logger().warning(f"action chunk rejected: {verdict.reason}", throttle_duration_sec=1.0)

    def _on_teleop(self, msg: JointState) -> None:
        now = self._now()
        names, pos = list(msg.name), list(msg.position)
        with self._lock:
            if len(names) != len(pos):
                verdict = self.core.record_rejection(
                    "teleop", f"JointState has {len(names)} names but {len(pos)} positions")
            else:
                verdict = self.core.submit_teleop(names, np.asarray(pos, dtype=np.float64), now)
        if not verdict:
            self.get_logger().warning(f"teleop command rejected: {verdict.reason}", throttle_duration_sec=1.0)

    def _estop(self, reason: str) -> None:
        """Latch the e-stop and write the first damping command now, not at the next tick."""
        with self._lock:
            now, wall = self._now(), time.monotonic()
            first = self.core.mode is not Mode.ESTOP
            self.core.estop(now, reason)
            if first:
                self._estop_latched_at = wall
                if self._send(self.core.damping_command(now)):
                    self._estop_first_damping_sent_at = time.monotonic()
        self.get_logger().error(f"E-STOP latched: {reason}")

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._estop(f"e-stop on {self.p['estop_topic']}")

    def _trigger(self, response, verdict) -> Trigger.Response:
        response.success = bool(verdict)
        response.message = verdict.reason
        return response

    def _srv_enable(self, request, response):
        now = self._now()
        if self._ros_clock and now <= 0.0:
            response.success, response.message = False, "the ROS clock is not running yet (waiting for /clock)"
            return response
        with self._lock:
            verdict = self.core.enable(now)
        return self._trigger(response, verdict)

    def _srv_disable(self, request, response):
        with self._lock:
            verdict = self.core.disable(self._now())
        return self._trigger(response, verdict)

    def _srv_estop(self, request, response):
        self._estop("e-stop service called")
        response.success, response.message = True, "e-stop latched"
        return response

    def _srv_reset_estop(self, request, response):
        with self._lock:
            verdict = self.core.reset_estop(self._now())
            if verdict:
                self._estop_latched_at = self._estop_first_damping_sent_at = None
        return self._trigger(response, verdict)

    # -- reporting ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        now, core_now = time.monotonic(), self._now()
        with self._lock:
            status = self.core.status()
            s = self._latest_state
        rate = self.loop.report()
        status.update(
            control_path=self.path.value,
            command_rate_hz=round(self._cmd_rate.rate(now), 1),
            lowstate_rate_hz=round(self._state_rate.rate(now), 1),
            lowstate_age_ms=None if s is None else round(1e3 * (core_now - self._latest_stamp), 2),
            commands_sent=self._sent,
            send_failures=self._send_failures,
            tick_errors=self._tick_errors,
            tick=rate.as_dict(),
            clock=self.p["clock"],
            estop_latched_at=self._estop_latched_at,  # time.monotonic() of the node's host (wall, both clocks)
            estop_first_damping_sent_at=self._estop_first_damping_sent_at,
        )
        return status

    def _publish_state(self) -> None:
        self.state_pub.publish(String(data=json.dumps(self.state_dict())))

    def _publish_diagnostics(self) -> None:
        state = self.state_dict()
        mode = state["mode"]
        if mode in (Mode.ESTOP.value, Mode.DAMPING.value):
            level, message = diag.ERROR, f"{mode}: {state['mode_reason']}"
        elif mode == Mode.HOLD.value or state["tick"]["overruns"]:
            level, message = diag.WARN, f"{mode}: {state['mode_reason']}" if mode == Mode.HOLD.value else "control ticks overran"
        else:
            level, message = diag.OK, mode
        values = {
            "mode": mode,
            "reason": state["mode_reason"],
            "last_rejection": state["last_rejection"],
            "command_rate_hz": state["command_rate_hz"],
            "lowstate_rate_hz": state["lowstate_rate_hz"],
            "tick_late_p99_ms": 1e3 * state["tick"]["late_p99"] if state["tick"]["ticks"] > 2 else -1.0,
            "tick_work_p99_ms": 1e3 * state["tick"]["work_p99"] if state["tick"]["ticks"] > 2 else -1.0,
            "overruns": state["tick"]["overruns"],
            **{f"count.{k}": v for k, v in state["counts"].items()},
            **{f"limit.{k}": v for k, v in state["limit_hits"].items()},
        }
        self.diag_pub.publish(diag.diagnostic_array(
            self.get_clock().now().to_msg(),
            diag.diagnostic_status(f"{self.get_name()}: executor", level, message, hardware_id="unitree_g1",
                                   values=values)))

    # -- shutdown -----------------------------------------------------------------------------------------
    def shutdown_robot(self, timeout: float | None = None) -> None:
        """Damping for disable_damping_time (the control thread keeps sending), then stop the stream."""
        if self._stopping:
            return
        self._stopping = True  # from here on, ticks run even if simulated time is frozen
        now = time.monotonic()
        with self._lock:
            mode = self.core.mode
            if mode is not Mode.ESTOP:
                self.core.disable(self._now())
        damp = self.core.cfg.disable_damping_time
        deadline = now + (timeout if timeout is not None else damp + 0.5)
        if mode is Mode.ESTOP:  # latched damping: keep sending it for the same bounded time
            deadline = now + damp
            while time.monotonic() < deadline and self.loop.running:
                time.sleep(0.01)
        else:
            while time.monotonic() < deadline and self.loop.running and self.core.mode is not Mode.DISABLED:
                time.sleep(0.01)
        self.loop.stop()
        self.get_logger().info(f"executor stopped after damping (mode {self.core.mode.value})")

    def destroy_node(self) -> None:
        self.shutdown_robot()
        for name in ("reader", "writer"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
                setattr(self, name, None)
        logging.getLogger("dit4dit_ros.control").removeHandler(self._log_bridge)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros executor_node` / `python -m dit4dit_ros.nodes.executor_node`."""
    # The control thread wakes every 2 ms and must get the GIL at once; with the default 5 ms switch interval
    # a CPU-bound thread (LowState parsing, ROS callbacks) can hold it for a whole tick or two.
    sys.setswitchinterval(0.0005)
    configure_ros_transport()
    rclpy.init(args=args)
    link = connect_supervisor(NODE_NAME)  # supervisor dead or hung -> SIGTERM -> the damping shutdown below
    node = None
    try:
        node = ExecutorNode()
        beat_from(node, link)
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, RuntimeError) as exc:  # bad parameters / DDS bound elsewhere: one clear line
        rclpy.logging.get_logger(NODE_NAME).error(f"executor node cannot start: {exc}")
        return 2
    finally:
        if node is not None:
            node.destroy_node()  # robot to damping first, then stop
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
