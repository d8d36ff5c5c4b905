"""Start the DiT4DiT graph on the simulated G1 (separate processes, one per node).

Same nodes and the same parameter YAML as `dit4dit run --config config/g1_sim.yaml`, for machines with a
ROS 2 distro (launch_ros). Arguments: config (parameter YAML), checkpoint (policy checkpoint directory).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

# (executable, node name): the node names are the sections of the parameter YAML.
SIM_GRAPH = (
    ("sim_robot_node", "sim_robot"),
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
        Node(package="dit4dit_ros", executable=exe, name=name, parameters=[config, {"use_sim_time": True}], output="screen")
        for exe, name in SIM_GRAPH
    ]
    return LaunchDescription(
        [DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "g1_sim.yaml"))] + nodes
    )
