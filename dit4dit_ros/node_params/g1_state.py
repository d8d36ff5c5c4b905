"""The g1_state node's ROS parameters (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import IMU_TOPIC, JOINT_STATES_TOPIC, REMOTE_TOPIC
from dit4dit_ros.g1.lowstate_gate import CRC_POLICIES
from dit4dit_ros.g1.variants import ANY_MODE_MACHINE, SUPPORTED_VARIANTS
from dit4dit_ros.utils.dds_env import MAX_CYCLONE_DOMAIN
from dit4dit_ros.utils.param_fields import param_field

STAMP_RECEIVE, STAMP_TICK = "receive", "lowstate_tick"  # stamp_source: arrival time, or the LowState tick


@dataclass(frozen=True)
class G1StateParams:
    """The g1_state node's parameters (nodes/g1_state_node.py): where LowState comes from, how it is checked, what
    is published.
    """

    unitree_domain_id: int = param_field(
        -1,
        "CycloneDDS domain of the robot (real G1: 0); -1 = $DIT4DIT_UNITREE_DOMAIN (default 0)",
        minimum=-1, maximum=MAX_CYCLONE_DOMAIN,
    )
    unitree_interface: str = param_field(
        "",
        "network interface to the robot (e.g. 'eth0'; 'lo' in sim; 'auto' = CycloneDDS picks); empty = "
        "$DIT4DIT_UNITREE_INTERFACE (default 'lo')",
    )
    lowstate_topic: str = param_field("rt/lowstate", "Unitree DDS topic of LowState_")
    lowstate_crc_policy: str = param_field(
        "verify",
        "verify: drop LowState whose crc does not match (robot); accept_zero: also accept crc 0 (Unitree's "
        "own simulators do not compute it); off: no check",
        choices=CRC_POLICIES,
    )
    robot_variant: str = param_field(
        "g1_29dof",
        "the G1 variant this deployment drives (g1/variants.py)",
        choices=SUPPORTED_VARIANTS,
    )
    expected_mode_machine: int = param_field(
        ANY_MODE_MACHINE,
        "-1: any mode_machine of robot_variant; else the exact value the robot must report (0 only for "
        "Unitree's simulators, which leave it unset)",
        minimum=-1, maximum=255,
    )
    hands: str = param_field(
        "none",
        "none: body joints only; dex3: also the Dex3-1 hand joints from rt/dex3/*/state",
        choices=("none", "dex3"),
    )
    publish_rate: float = param_field(
        100.0,
        "rate of /joint_states and /imu [Hz] (LowState arrives at 500 Hz)",
        minimum=1.0, maximum=1000.0,
    )
    stamp_source: str = param_field(
        STAMP_RECEIVE,
        "receive: stamps are the ROS clock when the sample arrived (the robot, whose tick is its own uptime);"
        " lowstate_tick: the sample's tick read as milliseconds of ROS time (the simulator, whose tick is its"
        " simulation time and its /clock), exact however late /clock reaches this node",
        choices=(STAMP_RECEIVE, STAMP_TICK),
    )
    joint_states_topic: str = param_field(JOINT_STATES_TOPIC, "sensor_msgs/JointState topic")
    imu_topic: str = param_field(IMU_TOPIC, "sensor_msgs/Imu topic")
    publish_imu: bool = param_field(True, "publish the pelvis IMU of LowState on imu_topic")
    imu_frame_id: str = param_field("imu_in_pelvis", "header.frame_id of the IMU message (G1 URDF link)")
    joint_states_frame_id: str = param_field(
        "",
        "header.frame_id of JointState (empty, as robot_state_publisher expects)",
    )
    remote_topic: str = param_field(
        REMOTE_TOPIC,
        "sensor_msgs/Joy of the G1 wireless remote from LowState (axes lx, ly, rx, ry, L2; buttons in "
        "g1/remote.py BUTTONS order); empty = not published",
    )
    qos_depth: int = param_field(10, "KEEP_LAST depth of the (reliable) state QoS", minimum=1, maximum=1000)
    stale_timeout_s: float = param_field(
        0.2,
        "no valid LowState for this long -> robot silent (log + diagnostic)",
        minimum=0.01, maximum=60.0,
    )
    diagnostics_period_s: float = param_field(1.0, "period of /diagnostics reports [s]", minimum=0.05, maximum=60.0)
