"""What an RViz 2 config subscribes to: each display's topic and the message type RViz expects there.

There is no RViz on this machine; tests read config/dit4dit.rviz with this and check the running graph offers every
topic with the matching type (a typo or a type change would leave a display empty without any error).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from dit4dit_ros.data.topics import TF_STATIC_TOPIC, TF_TOPIC

# RViz display class -> (the key of its topic, the ROS type it subscribes)
DISPLAY_TOPIC_TYPES: dict[str, tuple[str, str]] = {
    "rviz_default_plugins/RobotModel": ("Description Topic", "std_msgs/msg/String"),
    "rviz_default_plugins/MarkerArray": ("Topic", "visualization_msgs/msg/MarkerArray"),
    "rviz_default_plugins/Marker": ("Topic", "visualization_msgs/msg/Marker"),
    "rviz_default_plugins/Image": ("Topic", "sensor_msgs/msg/Image"),
    "rviz_default_plugins/Camera": ("Topic", "sensor_msgs/msg/Image"),
    "rviz_default_plugins/JointState": ("Topic", "sensor_msgs/msg/JointState"),
}
TF_DISPLAYS = ("rviz_default_plugins/TF", "rviz_default_plugins/RobotModel", "rviz_default_plugins/Camera")
TF_TOPICS = ((TF_TOPIC, "tf2_msgs/msg/TFMessage"), (TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage"))


@dataclass(frozen=True)
class DisplayTopic:
    display: str  # the display's name in the config
    topic: str
    msg_type: str


def display_topics(path: Path | str) -> list[DisplayTopic]:
    """Every topic the config's displays subscribe, with its type (TF displays add /tf and /tf_static)."""
    config = yaml.safe_load(Path(path).read_text())
    displays = config["Visualization Manager"]["Displays"]
    out: list[DisplayTopic] = []
    for d in displays:
        cls, name = d["Class"], d.get("Name", d["Class"])
        if cls in DISPLAY_TOPIC_TYPES:
            key, msg_type = DISPLAY_TOPIC_TYPES[cls]
            if key not in d or "Value" not in d[key]:
                raise ValueError(f"{path}: display {name!r} ({cls}) has no {key!r} with a Value")
            out.append(DisplayTopic(name, d[key]["Value"], msg_type))
        if cls in TF_DISPLAYS:
            out += [DisplayTopic(name, topic, msg_type) for topic, msg_type in TF_TOPICS]
    return out


def fixed_frame(path: Path | str) -> str:
    return yaml.safe_load(Path(path).read_text())["Visualization Manager"]["Global Options"]["Fixed Frame"]
