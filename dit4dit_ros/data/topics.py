"""The streams a recorded episode holds: topic names, ROS message types and their role in the dataset.

Bags store CDR bytes exactly as received (no re-serialization), so a bag is only useful with the right type
names and message definitions. `recording_typestore()` is the one typestore used to write and read bags:
the ROS 2 kilted standard messages plus the Unitree `unitree_hg/msg/LowCmd` and `unitree_hg/msg/HandCmd`
(see `lowcmd_cdr.py`, `handcmd_cdr.py`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

# The graph's topic and service names, written once (the nodes' defaults, the evaluation, the status line, the
# SROS2 policy). The first four are the streams an episode records.
IMAGE_TOPIC = "/camera/ego/image_raw"
JOINT_STATES_TOPIC = "/joint_states"
COMMAND_TOPIC = "/dit4dit/executor/command"
INSTRUCTION_TOPIC = "/dit4dit/instruction"
CAMERA_INFO_TOPIC = "/camera/ego/camera_info"
SCENE_IMAGE_TOPIC = "/camera/scene/image_raw"  # the simulator's third-person view (videos, viewers)
IMU_TOPIC = "/imu"
CLOCK_TOPIC = "/clock"
TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"
DIAGNOSTICS_TOPIC = "/diagnostics"
ROBOT_DESCRIPTION_TOPIC = "/robot_description"
ACTION_CHUNK_TOPIC = "/dit4dit/action_chunk"
POLICY_STATE_TOPIC = "/dit4dit/policy/state"
EXECUTOR_STATE_TOPIC = "/dit4dit/executor/state"
TELEOP_TOPIC = "/dit4dit/teleop/joint_command"
ESTOP_TOPIC = "/dit4dit/estop"
REMOTE_TOPIC = "/dit4dit/remote"
MARKERS_TOPIC = "/dit4dit/markers"
SIM_TASK_TOPIC = "/dit4dit/sim/task"
SIM_FRAME_ACK_TOPIC = "/dit4dit/sim/frame_ack"
SIM_RESET_SERVICE = "/dit4dit/sim/reset"
SIM_RELEASE_SERVICE = "/dit4dit/sim/release"  # hold_after_reset: let the simulation go on after a reset
CLOCK_TIME_SERVICE = "/dit4dit/clock/time"
CLOCK_OFFSET_TOPIC = "/dit4dit/clock_offset"
CLOCK_OFFSET_STATUS_TOPIC = "/dit4dit/clock_offset/status"
# names of the QoS profiles a node parameter may choose (nodes/qos.py builds them; this list is ROS-free)
QOS_PROFILE_NAMES: tuple[str, ...] = ("sensor_data", "state", "latched", "commands")
IMAGE_TYPE = "sensor_msgs/msg/Image"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
STRING_TYPE = "std_msgs/msg/String"
LOWCMD_TYPE = "unitree_hg/msg/LowCmd"
HANDCMD_TYPE = "unitree_hg/msg/HandCmd"

# The Unitree DDS topics rt/lowcmd and rt/arm_sdk are the ROS 2 topics /lowcmd and /arm_sdk (ROS 2 prefixes
# DDS topic names with "rt/"); unitree_ros2 names their type unitree_hg/msg/LowCmd. Recording them under those
# names gives the same bag as `ros2 bag record /lowcmd` on a machine with unitree_ros2 installed. The Dex3-1
# hands listen on rt/dex3/<side>/cmd (unitree_hg/msg/HandCmd, motor i = hand joint i, g1/hands.py).
DDS_COMMAND_STREAMS = {
    "rt/lowcmd": ("/lowcmd", LOWCMD_TYPE),
    "rt/arm_sdk": ("/arm_sdk", LOWCMD_TYPE),
    "rt/dex3/left/cmd": ("/dex3/left/cmd", HANDCMD_TYPE),
    "rt/dex3/right/cmd": ("/dex3/right/cmd", HANDCMD_TYPE),
}
DDS_TOPIC_TO_BAG_TOPIC = {dds: bag for dds, (bag, _) in DDS_COMMAND_STREAMS.items()}
HAND_COMMAND_BAG_TOPICS = {"/dex3/left/cmd": "left", "/dex3/right/cmd": "right"}  # bag topic -> hand side


class StreamRole(str, Enum):
    """What a stream means to the exporter."""

    IMAGE = "image"  # camera frames -> a video feature
    STATE = "state"  # measured joint positions -> observation.state
    COMMAND = "command"  # joint targets sent to the robot (JointState.position) -> action
    LOWCMD = "lowcmd"  # raw Unitree LowCmd (q of each motor) -> action
    HANDCMD = "handcmd"  # raw Unitree Dex3-1 HandCmd (q of each hand motor) -> hand joints of action
    INSTRUCTION = "instruction"  # language goal (std_msgs/String) -> task
    OTHER = "other"  # recorded, not exported


@dataclass(frozen=True)
class StreamSpec:
    """One recorded stream: the bag topic, its ROS type and its role."""

    topic: str
    msgtype: str
    role: StreamRole = StreamRole.OTHER

    def __post_init__(self) -> None:
        if not self.topic.startswith("/") or " " in self.topic:
            raise ValueError(f"stream topic {self.topic!r} must be an absolute ROS topic name like '/joint_states'")
        parts = self.msgtype.split("/")
        if len(parts) != 3 or parts[1] != "msg" or not all(parts):
            raise ValueError(f"stream {self.topic}: message type {self.msgtype!r} must look like 'pkg/msg/Type'")
        object.__setattr__(self, "role", StreamRole(self.role))


def default_streams(
    image_topic: str = IMAGE_TOPIC,
    joint_states_topic: str = JOINT_STATES_TOPIC,
    command_topic: str = COMMAND_TOPIC,
    instruction_topic: str = INSTRUCTION_TOPIC,
    dds_command_topics: tuple[str, ...] = (),
) -> tuple[StreamSpec, ...]:
    """The streams of a dit4dit episode; empty topic names are left out."""
    streams = []
    if image_topic:
        streams.append(StreamSpec(image_topic, IMAGE_TYPE, StreamRole.IMAGE))
    if joint_states_topic:
        streams.append(StreamSpec(joint_states_topic, JOINT_STATE_TYPE, StreamRole.STATE))
    if command_topic:
        streams.append(StreamSpec(command_topic, JOINT_STATE_TYPE, StreamRole.COMMAND))
    if instruction_topic:
        streams.append(StreamSpec(instruction_topic, STRING_TYPE, StreamRole.INSTRUCTION))
    for dds_topic in dds_command_topics:
        msgtype = DDS_COMMAND_STREAMS.get(dds_topic, ("", LOWCMD_TYPE))[1]
        role = StreamRole.HANDCMD if msgtype == HANDCMD_TYPE else StreamRole.LOWCMD
        streams.append(StreamSpec(bag_topic_for_dds(dds_topic), msgtype, role))
    topics = [s.topic for s in streams]
    if len(set(topics)) != len(topics):
        raise ValueError(f"two recorded streams share a topic: {topics}")
    return tuple(streams)


def bag_topic_for_dds(dds_topic: str) -> str:
    """The bag topic of a Unitree DDS command topic ('rt/lowcmd' -> '/lowcmd')."""
    try:
        return DDS_TOPIC_TO_BAG_TOPIC[dds_topic]
    except KeyError:
        raise ValueError(
            f"unknown Unitree DDS command topic {dds_topic!r}; expected one of {sorted(DDS_TOPIC_TO_BAG_TOPIC)}"
        ) from None


@functools.lru_cache(maxsize=1)
def recording_typestore():
    """The rosbags typestore for writing and reading episode bags (ROS 2 kilted + unitree_hg LowCmd, HandCmd)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from dit4dit_ros.data.handcmd_cdr import HANDCMD_MSG
    from dit4dit_ros.data.lowcmd_cdr import LOWCMD_MSG, MOTORCMD_MSG, MOTORCMD_TYPE

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    types.update(get_types_from_msg(MOTORCMD_MSG, MOTORCMD_TYPE))
    types.update(get_types_from_msg(LOWCMD_MSG, LOWCMD_TYPE))
    types.update(get_types_from_msg(HANDCMD_MSG, HANDCMD_TYPE))
    store.register(types)
    return store
