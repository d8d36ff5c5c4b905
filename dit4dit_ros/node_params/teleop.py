"""The teleop node's ROS parameters beyond jogging (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import COMMAND_TOPIC, ESTOP_TOPIC, JOINT_STATES_TOPIC, SIM_TASK_TOPIC, TELEOP_TOPIC
from dit4dit_ros.teleop.jog import HANDS
from dit4dit_ros.utils.param_fields import param_field

SOURCES = ("keyboard", "replay", "expert")  # where the teleop targets come from


@dataclass(frozen=True)
class TeleopParams:
    """The teleop node's parameters beyond jogging (teleop/jog.py JogConfig): the source of targets, topics, replay
    and expert settings.
    """

    source: str = param_field(
        "keyboard",
        "where targets come from: keyboard (terminal jogging), replay (a bag), expert (the simulator's "
        "scripted expert)",
        choices=SOURCES,
    )
    rate: float = param_field(30.0, "publish rate of the joint targets [Hz]", minimum=1.0, maximum=500.0)
    command_topic: str = param_field(TELEOP_TOPIC, "sensor_msgs/JointState teleop joint targets (the executor's input)")
    estop_topic: str = param_field(ESTOP_TOPIC, "std_msgs/Bool e-stop (the keyboard's e-stop key publishes True)")
    joint_states_topic: str = param_field(
        JOINT_STATES_TOPIC,
        "measured joints (sensor_msgs/JointState): keyboard start pose",
    )
    task_topic: str = param_field(
        SIM_TASK_TOPIC,
        "the simulator's task status (diagnostic_msgs/DiagnosticStatus, latched): expert",
    )
    hand: str = param_field("right", "hand jogged first (h switches)", choices=HANDS)
    bag: str = param_field("", "replay: episode bag directory (rosbag2, from the recorder)")
    replay_topic: str = param_field(COMMAND_TOPIC, "replay: recorded command topic (JointState, /lowcmd or /arm_sdk)")
    replay_joints: tuple[str, ...] = param_field(
        ("auto",),
        "replay: joints to replay; ['auto'] = the recorded waist and arm joints",
        type="str_array",
    )
    replay_speed: float = param_field(1.0, "replay: playback speed factor", minimum=0.05, maximum=10.0)
    replay_loop: bool = param_field(False, "replay: start over at the end")
    exit_when_done: bool = param_field(True, "replay: shut the node down after the last sample (unless replay_loop)")
    expert_gravity_offset: bool = param_field(
        True,
        "expert: send q + g(q)/kp (for an executor without gravity feed-forward) instead of the IK positions",
    )
