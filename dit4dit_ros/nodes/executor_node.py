"""Executor node: the ROS face of the 500 Hz chunk executor, whose tick runs in a real-time process of its own.

The tick (LowState in, dit4dit_ros.control.ExecutorCore: modes, chunk scheduling, safety filter, watchdogs,
LowCmd out on `rt/arm_sdk` or `rt/lowcmd` with the Unitree SDK) runs in `dit4dit_ros.control.rt.process`,
started by this node (control/rt/client.py) and fed through shared memory: no callback, message conversion or
log call of this node can hold the control loop's interpreter (docs/realtime.md). This node only moves data:
- `/dit4dit/action_chunk` (trajectory_msgs/JointTrajectory; header.stamp = observation time, points spaced by
  time_from_start): sizes checked before any per-point work (nodes/executor_inputs.py), then the chunk goes to
  the process. With clock:=steady (the robot) the stamp (ROS clock) is mapped onto the monotonic clock at
  receipt: obs_monotonic = now_monotonic - (now_ros - stamp). With clock:=ros (a lock-stepped simulator) the
  process runs on simulation time: the ROS clock this node forwards from /clock and the robot's own time in
  LowState `tick` (docs/realtime.md), and it skips ticks while simulated time stands still.
- `/dit4dit/teleop/joint_command` (sensor_msgs/JointState: `name` + `position`) -> teleop targets.
- Services (std_srvs/Trigger) ~/enable, ~/disable, ~/estop, ~/reset_estop; `/dit4dit/estop` (std_msgs/Bool,
  True latches the e-stop; only ~/reset_estop clears it). The state's `estop_publishers` counts the e-stop
  publishers this node's reader has matched: DDS matches the two ends separately, and a volatile reader drops
  what a writer sent before the reader matched it, so a new e-stop source (a button node, a test) waits for
  the count before it relies on one message. The e-stop is latched at the start of the process's
  next tick and that tick's command is the first damping command. Enable and reset_estop obey the `authority`
  policy (~/enable_with_token, ~/reset_estop_with_token, the wireless remote); the LowState gate, the remote,
  enable checks and alarms: nodes/executor_interlocks.py.
- `/dit4dit/executor/state` (diagnostic_msgs/DiagnosticStatus, key/values: mode, rates, tick timing, last
  rejection, counters, how long chunks took to reach the control process (`chunk_delivery`,
  nodes/chunk_delivery.py); nested groups as dotted keys, nodes/status_msgs.py executor_state reads it back),
  /diagnostics, and `command_topic` (the tracking commands sent, for recording).
- The process notices this node's death (PR_SET_PDEATHSIG: damps, then stops) or hang (heartbeat: disables and
  goes on, so a stall that ends needs only a new enable); this node notices the process's death and reports it
  (mode RT_DEAD, diagnostics ERROR).
- Shutdown: the process damps for `disable_damping_time` (counted in ticks), then the command stream stops.
"""
from __future__ import annotations

import logging
import sys
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock as RosClock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.control import Mode
from dit4dit_ros.control.executor_params import (  # noqa: F401 - re-exported: the node's parameters
    CLOCKS,
    CONTROL_PATHS,
    NODE_NAME,
    PARAMETERS,
    executor_config,
)
from dit4dit_ros.control.chunk import Verdict
from dit4dit_ros.control.rt import shm as S
from dit4dit_ros.control.rt.client import RtClient
from dit4dit_ros.data.topics import CLOCK_TOPIC
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.chunk_delivery import ChunkDelivery
from dit4dit_ros.nodes.executor_interlocks import ExecutorInterlocks
from dit4dit_ros.nodes.executor_inputs import chunk_from_trajectory, stamp_seconds, teleop_from_joint_state
from dit4dit_ros.nodes.executor_report import RT_DEAD, RateFromCounter, diagnostics_values
from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TYPE, executor_state_msg
from dit4dit_ros.nodes.qos import COMMANDS, DIAGNOSTICS, state_qos
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.nodes.spin import configure_node_transport, ending_with_context
from dit4dit_ros.nodes.stall_watch import StallWatch
from dit4dit_ros.utils.dds_env import isolation_from_env

class ExecutorNode(Node):
    """See module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.cfg = cfg = executor_config(p)  # ValueError here names what is inconsistent, before any process
        self._ros_clock = p["clock"] == "ros"
        env = isolation_from_env()
        self.isolation = {
            "ros_domain_id": env.ros_domain_id,
            "unitree_domain_id": env.unitree_domain_id if p["unitree_domain_id"] < 0 else p["unitree_domain_id"],
            "unitree_interface": p["unitree_interface"] or env.unitree_interface,
        }
        self._cmd_rate, self._state_rate = RateFromCounter(), RateFromCounter()
        self._rates = (0.0, 0.0)
        self._rt_dead: str = ""
        self._last_cmd_count = 0
        self._stopped = False
        self.delivery = ChunkDelivery()  # how long chunks take to reach the control process, leg by leg
        self.rt = RtClient(dict(p), self.isolation, cfg.scheduler.max_chunk_points)
        self.rt.start()

        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(JointTrajectory, p["chunk_topic"], self._on_chunk, COMMANDS, callback_group=inputs)
        self.create_subscription(JointState, p["teleop_topic"], self._on_teleop, COMMANDS, callback_group=inputs)
        safety_group = MutuallyExclusiveCallbackGroup()  # e-stop never waits behind a chunk callback
        self._estop_publishers = 0
        self.create_subscription(Bool, p["estop_topic"], self._on_estop_topic, COMMANDS, callback_group=safety_group,
                                 event_callbacks=SubscriptionEventCallbacks(matched=self._on_estop_matched))
        for name, handler in (("~/enable", self._srv_enable), ("~/disable", self._srv_disable),
                              ("~/estop", self._srv_estop), ("~/reset_estop", self._srv_reset_estop)):
            self.create_service(Trigger, name, handler, callback_group=safety_group)
        self.interlocks = ExecutorInterlocks(self, callback_group=safety_group)
        if self._ros_clock:  # simulation time for the process (it also reads the robot's own time)
            self.create_subscription(Clock, CLOCK_TOPIC, self._on_clock,
                                     QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
                                     callback_group=MutuallyExclusiveCallbackGroup())
        self.state_pub = self.create_publisher(EXECUTOR_STATE_TYPE, p["state_topic"], state_qos())
        # What the robot was told, for the recorder (the dataset's action): tracking commands only.
        self.command_pub = self.create_publisher(JointState, p["command_topic"], state_qos()) if p["command_topic"] else None
        self._command_idx = np.array([JOINT_NAMES.index(n) for n in cfg.controllable_joints])
        self._command_names = [JOINT_NAMES[i] for i in self._command_idx]
        self.diag_pub = self.create_publisher(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        reports = MutuallyExclusiveCallbackGroup()
        # On the host's steady clock, not the node's (simulated) time: a lock-step simulator that holds still (after
        # a reset, until the evaluator has seen the control loop take the reset's state) froze /clock, and with it
        # the state an evaluator waits for and the watch on the control process. Steady time also cannot jump.
        steady = RosClock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / p["state_rate"], self._publish_state, callback_group=reports, clock=steady)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics, callback_group=reports, clock=steady)
        self.create_timer(0.02, self._watch_rt, callback_group=reports, clock=steady)
        # The command stream for the recorder runs on a plain thread, not an rclpy timer: the executor's wait-set
        # round per timer callback costs far more than the publish, and on a busy CPU the timer fell to 15 Hz
        # (e2e test, 2 cores shared with the simulator's rendering and the policy) while the thread keeps its rate.
        self._command_stop = threading.Event()
        self._command_thread = None
        if self.command_pub is not None:
            self._command_thread = threading.Thread(target=self._command_loop, args=(1.0 / p["command_topic_rate"],),
                                                    name="executor-command-topic", daemon=True)
            self._command_thread.start()
        gravity = (f"x{cfg.gravity_compensation_scale:.2f} on {len(cfg.gravity_joints)} joints"
                   if cfg.gravity_compensation else "off")
        realtime = (self.rt.status().get("realtime") or {}).get("scheduler", "normal")
        self.get_logger().info(
            f"executor: {p['control_path']} at {p['tick_rate']:.0f} Hz on Unitree DDS domain "
            f"{self.isolation['unitree_domain_id']} ({self.isolation['unitree_interface']}) in process "
            f"{self.rt.pid} ({realtime}); {len(cfg.controllable_joints)} controllable joints; gravity compensation "
            f"{gravity}; call ~/enable to start")

    # -- inputs -------------------------------------------------------------------------------------------
    def _stamp_to_core_clock(self, stamp) -> float:
        """A ROS header stamp on the process's clock (steady: shifted by its age on the ROS clock)."""
        if self._ros_clock:
            return stamp_seconds(stamp)
        age = self.get_clock().now().nanoseconds * 1e-9 - stamp_seconds(stamp)
        return time.monotonic() - age

    def _on_chunk(self, msg: JointTrajectory, info: MessageInfo) -> None:
        started_ns = time.time_ns()  # the system clock DDS stamps `info` with (nodes/chunk_delivery.py)
        chunk, reason = chunk_from_trajectory(msg, self._stamp_to_core_clock, self.cfg.scheduler.max_chunk_points,
                                              self.p["default_action_period"])
        if chunk is None:
            self.rt.reject("policy", reason)
            self.get_logger().warning(f"action chunk rejected: {reason}", throttle_duration_sec=1.0)
            return
        posted = self.rt.submit_chunk(chunk)
        self.delivery.add(info["source_timestamp"], info["received_timestamp"], started_ns, time.time_ns())
        if not posted:
            self.get_logger().error("action chunk dropped: the control process takes no requests",
                                    throttle_duration_sec=1.0)

    def _on_teleop(self, msg: JointState) -> None:
        target, reason = teleop_from_joint_state(msg)
        if target is None:
            self.rt.reject("teleop", reason)
            self.get_logger().warning(f"teleop command rejected: {reason}", throttle_duration_sec=1.0)
        else:
            self.rt.submit_teleop(*target)

    def _on_clock(self, msg: Clock) -> None:
        self.rt.set_clock(stamp_seconds(msg.clock))

    def _estop(self, reason: str) -> None:
        self.rt.estop(reason)
        self.get_logger().error(f"E-STOP requested: {reason} (latched by the control process at its next tick)")

    def _on_estop_matched(self, info) -> None:
        self._estop_publishers = int(info.current_count)

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._estop(f"e-stop on {self.p['estop_topic']}")

    def _trigger(self, response, verdict: Verdict) -> Trigger.Response:
        response.success, response.message = bool(verdict), verdict.reason
        return response

    def _srv_enable(self, request, response):
        verdict = self.interlocks.check_plain("enable")
        return self._trigger(response, self.enable_request() if verdict else verdict)

    def enable_request(self) -> Verdict:
        """Enable (the control process runs the core's enable checks), once the caller's authority was checked."""
        return Verdict(*self.rt.request(S.ENABLE))

    def reset_estop_request(self) -> Verdict:
        return Verdict(*self.rt.request(S.RESET_ESTOP))

    def _srv_disable(self, request, response):
        return self._trigger(response, Verdict(*self.rt.request(S.DISABLE)))

    def _srv_estop(self, request, response):
        self._estop("e-stop service called")
        response.success, response.message = True, "e-stop latched at the control process's next tick"
        return response

    def _srv_reset_estop(self, request, response):
        verdict = self.interlocks.check_plain("reset_estop")
        return self._trigger(response, self.reset_estop_request() if verdict else verdict)

    # -- the process --------------------------------------------------------------------------------------
    def _watch_rt(self) -> None:
        """Forward the process's log lines to the ROS log; notice when it dies."""
        if self.rt.block is None:
            return
        self._forward_logs()
        alive, why = self.rt.alive()
        if not alive and not self._rt_dead and not self._stopped:
            self._rt_dead = why
            self.get_logger().error(f"executor control process died: {why}; no command reaches the robot "
                                    "(it damps by itself on command silence). Restart the executor.")
        elif alive and (late := self.rt.since_last_tick()) > 0.1:
            self.get_logger().warning(f"executor control process has not ticked for {late:.2f} s (CPU starvation? "
                                      "docs/realtime.md: realtime)", throttle_duration_sec=1.0)

    def _forward_logs(self) -> None:
        """The process's log lines into this node's ROS log (one call site per severity: rclpy requires it)."""
        if self.rt.block is None:
            return
        logger = self.get_logger()
        for level, text in self.rt.new_logs():
            if level >= logging.ERROR:
                logger.error(text)
            elif level >= logging.WARNING:
                logger.warning(text)
            else:
                logger.info(text)

    def _command_loop(self, period: float) -> None:
        # ends with destroy_node, or quietly when the context was shut down first (Ctrl-C, SIGTERM)
        while not self._command_stop.wait(period) and self.context.ok():
            with ending_with_context(self):
                self._publish_command()

    def _publish_command(self) -> None:
        count, cmd = self.rt.last_command() if self.rt.block is not None else (0, None)
        if cmd is None or count == self._last_cmd_count:
            return
        self._last_cmd_count = count
        idx = self._command_idx
        msg = JointState(name=self._command_names, position=cmd[0][idx].tolist(), velocity=cmd[1][idx].tolist(),
                         effort=cmd[2][idx].tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.command_pub.publish(msg)

    # -- reporting ----------------------------------------------------------------------------------------
    def status(self) -> dict:
        """The control process's newest status (mode, counts, tick timing, ...)."""
        return self.rt.status() if self.rt.block is not None else {}

    @property
    def mode(self) -> Mode | str:
        mode = self.status().get("mode")
        return RT_DEAD if self._rt_dead or mode is None else Mode(mode)

    def state_dict(self) -> dict:
        now = time.monotonic()
        state = self.status()
        state.pop("base_pose", None)  # (in status(): for tests; not published)
        state.pop("measured_q", None)
        if state:
            self._rates = (self._cmd_rate.update(now, state.get("commands_sent", 0)),
                           self._state_rate.update(now, state.get("lowstate_received", 0)))
        state.update(control_path=self.p["control_path"], clock=self.p["clock"], rt_pid=self.rt.pid,
                     command_rate_hz=round(self._rates[0], 1), lowstate_rate_hz=round(self._rates[1], 1),
                     estop_publishers=self._estop_publishers, chunk_delivery=self.delivery.report(),
                     **self.interlocks.status())
        if self._rt_dead:
            state.update(mode=RT_DEAD, mode_reason=self._rt_dead)
        return state

    def _publish_state(self) -> None:
        state = self.state_dict()
        level, message, _ = diagnostics_values(state)
        self.state_pub.publish(executor_state_msg(state, level, message))

    def _publish_diagnostics(self) -> None:
        level, message, values = diagnostics_values(self.state_dict())
        self.diag_pub.publish(diag.diagnostic_array(
            self.get_clock().now().to_msg(),
            diag.diagnostic_status(f"{self.get_name()}: executor", level, message, hardware_id="unitree_g1",
                                   values=values)))

    # -- shutdown -----------------------------------------------------------------------------------------
    def shutdown_robot(self, timeout: float | None = None) -> None:
        """The process damps for disable_damping_time (counted in ticks), then stops the stream and exits."""
        if self._stopped:
            return
        self._stopped = True
        code = self.rt.stop(timeout)
        final = self.rt.status() if self.rt.block is not None else {}
        self._forward_logs()
        self.get_logger().info(f"executor stopped after {final.get('shutdown_damping_ticks', 0)} damping ticks "
                               f"(mode {final.get('mode', '?')}, {final.get('commands_sent', 0)} commands sent, "
                               f"{final.get('send_failures', 0)} write failures, control process exit status {code})")

    def destroy_node(self) -> None:
        self.shutdown_robot()
        self._command_stop.set()
        if self._command_thread is not None:
            self._command_thread.join(timeout=2.0)
        self.rt.close()
        if getattr(self, "interlocks", None) is not None:
            self.interlocks.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros executor_node` / `python -m dit4dit_ros.nodes.executor_node`."""
    configure_node_transport(NODE_NAME)
    rclpy.init(args=args)
    link = connect_supervisor(NODE_NAME)  # supervisor dead or hung -> SIGTERM -> the damping shutdown below
    node = watch = None
    try:
        try:
            node = ExecutorNode()
        except (ValueError, RuntimeError) as exc:  # bad parameters / control process cannot start: one clear line
            rclpy.logging.get_logger(NODE_NAME).error(f"executor node cannot start: {exc}")
            return 2
        beat_from(node, link)
        watch = StallWatch(node)  # a stalled event loop dumps every thread's stack to the node's log
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        with ending_with_context(node):  # SIGINT while spin builds a wait set: "context is not valid" = shutdown
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if watch is not None:
            watch.close()
        if node is not None:
            node.destroy_node()  # robot to damping first, then stop
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
