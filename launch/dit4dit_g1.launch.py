"""Start the DiT4DiT graph on a physical G1 (separate processes, one per node).

Same nodes as the simulation launch file, with the real camera instead of the simulator, and
config/g1_real.yaml (robot network interface, DDS domain 0, control path). Run it on the robot's computer
(or a machine on the robot's network) with a ROS 2 distro installed.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

REAL_GRAPH = (
    ("camera_node", "camera"),
    ("g1_state_node", "g1_state"),
    ("robot_state_node", "robot_state"),
    ("policy_node", "policy"),
    ("executor_node", "executor"),
    ("monitor_node", "monitor"),
)


def generate_launch_description():
    share = get_package_share_directory("dit4dit_ros")
    config = LaunchConfiguration("config")
    nodes = [
        Node(package="dit4dit_ros", executable=exe, name=name, parameters=[config], output="screen")
        for exe, name in REAL_GRAPH
    ]
    return LaunchDescription(
        [DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "g1_real.yaml"))] + nodes
    )
