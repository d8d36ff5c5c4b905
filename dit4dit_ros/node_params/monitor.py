"""The monitor and robot_state nodes' ROS parameters (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC, CAMERA_INFO_TOPIC, COMMAND_TOPIC, EXECUTOR_STATE_TOPIC, JOINT_STATES_TOPIC, MARKERS_TOPIC
from dit4dit_ros.utils.param_fields import param_field


@dataclass(frozen=True)
class MonitorParams:
    """The monitor node's parameters (nodes/monitor_node.py): the chunk markers and the chunk-stream diagnostic."""

    chunk_topic: str = param_field(ACTION_CHUNK_TOPIC, "action chunks to draw")
    joint_states_topic: str = param_field(JOINT_STATES_TOPIC, "measured joints (pose of joints the chunk does not set)")
    markers_topic: str = param_field(MARKERS_TOPIC, "MarkerArray output")
    frame_id: str = param_field("pelvis", "frame of the markers (the G1 URDF pelvis link)")
    expected_rate_hz: float = param_field(
        6.0,
        "chunk rate below which the diagnostic warns",
        minimum=0.0, maximum=100.0,
    )
    max_latency_s: float = param_field(
        0.5,
        "observation-to-receipt latency above which the diagnostic warns",
        minimum=0.001, maximum=60.0,
    )
    diagnostics_period_s: float = param_field(1.0, "period of /diagnostics [s]", minimum=0.05, maximum=60.0)
    history: int = param_field(5, "chunks drawn at once (older ones fade)", minimum=1, maximum=50)
    executor_state_topic: str = param_field(EXECUTOR_STATE_TOPIC, "the executor's state (mode shown as text)")
    camera_info_topic: str = param_field(CAMERA_INFO_TOPIC, "ego camera calibration (frustum drawn in its frame)")
    frustum_depth_m: float = param_field(0.4, "depth of the drawn camera frustum [m]", minimum=0.01, maximum=10.0)


@dataclass(frozen=True)
class RobotStateParams:
    """The robot_state node's parameters (nodes/robot_state_node.py): TF of the measured and the commanded robot."""

    joint_states_topic: str = param_field(JOINT_STATES_TOPIC, "measured joints (sensor_msgs/JointState)")
    publish_rate_hz: float = param_field(
        50.0,
        "most /tf messages per second (0: one per joint state)",
        minimum=0.0, maximum=1000.0,
    )
    description_dir: str = param_field("", "where the URDF and its meshes are written (empty: a per-user cache)")
    mesh_uri_prefix: str = param_field("", "URI prefix of the meshes in the URDF (empty: file:// of description_dir)")
    command_topic: str = param_field(COMMAND_TOPIC, "commanded joints (JointState) drawn as a ghost; '' = none")
    command_frame_prefix: str = param_field("commanded/", "frame prefix of the commanded (ghost) tree")
