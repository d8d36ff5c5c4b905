"""The recorder node's ROS parameters beyond storage (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import COMMAND_TOPIC, IMAGE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC, QOS_PROFILE_NAMES
from dit4dit_ros.utils.param_fields import param_field


@dataclass(frozen=True)
class RecorderNodeParams:
    """The recorder node's parameters beyond storage (data/recorder.py RecorderConfig): streams, QoS, automatic
    episodes, status.
    """

    output_dir: str = param_field(
        "episodes",
        "directory of the episodes (relative to the working directory or absolute)",
    )
    image_topic: str = param_field(IMAGE_TOPIC, "ego camera (sensor_msgs/Image); empty = not recorded")
    joint_states_topic: str = param_field(
        JOINT_STATES_TOPIC,
        "measured joints (sensor_msgs/JointState); empty = not recorded",
    )
    command_topic: str = param_field(
        COMMAND_TOPIC,
        "joint targets sent to the robot (sensor_msgs/JointState, position = q target); empty = not recorded",
    )
    instruction_topic: str = param_field(
        INSTRUCTION_TOPIC,
        "language goal (std_msgs/String, latched); empty = not recorded",
    )
    dds_command_topics: str = param_field(
        "",
        "Unitree DDS command topics to record directly, comma-separated (rt/lowcmd, rt/arm_sdk, "
        "rt/dex3/left/cmd, rt/dex3/right/cmd); empty = none",
    )
    image_qos: str = param_field("sensor_data", "QoS profile of the image subscription", choices=QOS_PROFILE_NAMES)
    state_qos: str = param_field("state", "QoS profile of the joint state subscription", choices=QOS_PROFILE_NAMES)
    command_qos: str = param_field("commands", "QoS profile of the command subscription", choices=QOS_PROFILE_NAMES)
    image_depth: int = param_field(30, "subscription queue depth for images (1 s at 30 Hz)", minimum=1, maximum=1000)
    state_depth: int = param_field(
        500,
        "subscription queue depth for joint states and commands (1 s at 500 Hz)",
        minimum=1, maximum=5000,
    )
    instruction: str = param_field("", "instruction used when none was received on instruction_topic")
    auto_start: bool = param_field(False, "start an episode at once (and the next one after each automatic stop)")
    max_episode_s: float = param_field(
        0.0,
        "stop an episode automatically after this many seconds; 0 = never",
        minimum=0.0,
    )
    max_episodes: int = param_field(
        0,
        "with auto_start: shut the node down after this many episodes; 0 = never",
        minimum=0,
    )
    status_period_s: float = param_field(1.0, "period of the status topic [s]", minimum=0.05, maximum=60.0)
