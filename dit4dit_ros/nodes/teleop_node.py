"""Teleop node: a teleoperation source -> /dit4dit/teleop/joint_command at a fixed rate (a thin shell).

The executor takes these sensor_msgs/JointState targets (name + position) through the same validation and
safety filter as policy chunks, so teleoperation and the policy share one path to the robot. Sources
(parameter `source`, logic in dit4dit_ros.teleop):
- keyboard: palm jogs with IK from keys typed in this process's terminal (stdin must be a TTY); starts from the
  measured arms on /joint_states; the e-stop key publishes std_msgs/Bool True on the e-stop topic.
- replay: the recorded command targets of an episode bag (`bag`), in order, at their recorded times.
- expert: the simulator's scripted expert, planned from the simulator's task status (seed) on `task_topic`.

The current target is re-published at every tick even when it does not change: the executor treats a silent
input as lost (HOLD after its input_timeout), and a steady stream is what a leader arm would send too.
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Bool

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.g1.joints import JOINT_INDEX
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, STATE
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.teleop.jog import JogConfig
from dit4dit_ros.teleop.target import TeleopTarget
from dit4dit_ros.utils.param_fields import from_params, param_specs
from dit4dit_ros.node_params.teleop import TeleopParams

NODE_NAME = "teleop"
PARAMETERS: tuple[ParamSpec, ...] = (*param_specs(TeleopParams), *param_specs(JogConfig))


def target_to_msg(target: TeleopTarget, stamp) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(target.joint_names)
    msg.position = [float(v) for v in target.positions]
    return msg


class TeleopNode(Node):
    """See module docstring. `key_fd`: the terminal to read keys from (default stdin; tests pass a pty)."""

    def __init__(self, key_fd: int | None = None, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.done = False
        self.published = 0
        self._target: TeleopTarget | None = None
        self._measured: tuple[tuple[str, ...], np.ndarray] | None = None
        self._reader = None
        self._start: float | None = None
        self.source = p["source"]
        if self.source == "keyboard":
            self._setup_keyboard(sys.stdin.fileno() if key_fd is None else key_fd)
        elif self.source == "replay":
            self._setup_replay()
        else:
            self._setup_expert()
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_states, STATE)
        self.pub = self.create_publisher(JointState, p["command_topic"], COMMANDS)
        self.estop_pub = self.create_publisher(Bool, p["estop_topic"], COMMANDS)
        self.create_timer(1.0 / p["rate"], self._on_timer)
        self.get_logger().info(f"teleop: source {self.source}, {p['rate']:.0f} Hz on {p['command_topic']}")

    # -- setup ----------------------------------------------------------------------------------------------
    def _setup_keyboard(self, fd: int) -> None:
        from dit4dit_ros.teleop.jog import ArmJogger
        from dit4dit_ros.teleop.keys import KeyboardTeleop
        from dit4dit_ros.teleop.terminal import TerminalKeyReader

        p = self.p
        reader = TerminalKeyReader(fd).__enter__()  # NotATerminalError (a RuntimeError) without a TTY
        try:
            cfg = from_params(JogConfig, p)
            self.keyboard = KeyboardTeleop(ArmJogger(cfg, hand=p["hand"]))
        except BaseException:
            reader.close()
            raise
        self._reader = reader

    def _setup_replay(self) -> None:
        from dit4dit_ros.teleop.replay import ReplayConfig, ReplaySource

        p = self.p
        if not p["bag"]:
            raise ValueError("source 'replay' needs the parameter bag (an episode bag directory)")
        joints = None if list(p["replay_joints"]) == ["auto"] else tuple(p["replay_joints"])
        self.replay = ReplaySource(p["bag"], ReplayConfig(topic=p["replay_topic"], joint_names=joints,
                                                          speed=p["replay_speed"]))
        self.get_logger().info(f"replay: {len(self.replay)} targets of {len(self.replay.joint_names)} joints over "
                               f"{self.replay.duration:.2f} s from {self.replay.path}")

    def _setup_expert(self) -> None:
        from dit4dit_ros.teleop.expert import ExpertSource

        self.expert = ExpertSource(gravity_offset=self.p["expert_gravity_offset"])
        self.create_subscription(DiagnosticStatus, self.p["task_topic"], self._on_task, LATCHED)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -- callbacks ------------------------------------------------------------------------------------------
    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            return
        self._measured = (tuple(msg.name), np.asarray(msg.position, dtype=np.float64))
        if self.source == "keyboard" and not self.keyboard.jogger.synced:
            known = [(n, v) for n, v in zip(*self._measured) if n in JOINT_INDEX]
            self.keyboard.jogger.sync([n for n, _ in known], [v for _, v in known])
            self.get_logger().info("keyboard: targets start at the measured joints; keys: w/s a/d q/e jog, h hand, "
                                   "c/o close/open hand, space E-STOP")

    def _on_task(self, msg: DiagnosticStatus) -> None:
        from dit4dit_ros.teleop.expert import TaskUpdate

        try:
            if self.expert.update(TaskUpdate.from_values({kv.key: kv.value for kv in msg.values}), self._now()):
                self.get_logger().info(f"expert: planned {self.expert.episode} ({self.expert.expert.duration:.1f} s)")
        except ValueError as exc:
            self.get_logger().error(f"expert: {exc}", throttle_duration_sec=5.0)

    def _on_timer(self) -> None:
        if self.done:
            return
        now = self._now()
        if self.source == "keyboard":
            self._keyboard_tick()
        elif self.source == "replay":
            self._replay_tick(now)
        else:
            self._target = self.expert.target_at(now)
        if self._target is not None:  # also on the tick that finishes a replay: its last sample goes out
            self.pub.publish(target_to_msg(self._target, self.get_clock().now().to_msg()))
            self.published += 1

    def _keyboard_tick(self) -> None:
        from dit4dit_ros.teleop.keys import Action, keyboard_target

        for key in self._reader.read_keys(0.0):
            event = self.keyboard.handle(key, self._measured)
            if event.action is Action.ESTOP:
                self.estop_pub.publish(Bool(data=True))
                self.get_logger().error("E-STOP published")
            elif event.action is Action.QUIT:
                self.done = True
                return  # nothing more after quit
            elif event.message:
                self.get_logger().info(event.message)
        if self.keyboard.jogger.synced:
            self._target = keyboard_target(self.keyboard)

    def _replay_tick(self, now: float) -> None:
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        due = self.replay.due(elapsed)
        if due:
            self._target = due[-1][1]  # setpoints: the newest one due is what matters
        if self.replay.finished(elapsed):
            if self.p["replay_loop"]:
                self.replay.rewind()
                self._start = now
            elif self.p["exit_when_done"]:
                self.get_logger().info("replay finished")
                self.done = True

    def destroy_node(self) -> None:
        if self._reader is not None:
            self._reader.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros teleop_node` / `dit4dit teleop`."""
    return run_node(TeleopNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
