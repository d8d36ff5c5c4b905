"""Start the DiT4DiT graph on the simulated G1 (separate processes, one per node).

Same nodes and the same parameter YAML as `dit4dit run --config config/g1_sim.yaml`, for machines with a
ROS 2 distro (launch_ros). Arguments: config (parameter YAML), checkpoint (policy checkpoint directory).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

# (executable, node name): the node names are the sections of the parameter YAML.
SIM_GRAPH = (
    ("sim_robot_node", "sim_robot"),
    ("g1_state_node", "g1_state"),
    ("policy_node", "policy"),
    ("executor_node", "executor"),
    ("monitor_node", "monitor"),
)


def _graph(context):
    """Check the whole parameter file before any node starts, then start the nodes with the stack's transport."""
    from dit4dit_ros.bringup.launch_support import prepare_launch

    config = LaunchConfiguration("config").perform(context)
    env = prepare_launch(config)  # raises with the node and key named: nothing is started
    return [SetEnvironmentVariable(key, value) for key, value in env.items()] + [
        Node(package="dit4dit_ros", executable=exe, name=name, parameters=[config, {"use_sim_time": True}], output="screen")
        for exe, name in SIM_GRAPH
    ]


def generate_launch_description():
    share = get_package_share_directory("dit4dit_ros")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "g1_sim.yaml")),
        OpaqueFunction(function=_graph),
    ])
