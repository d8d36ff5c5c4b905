"""Start the DiT4DiT graph on a physical G1 (separate processes, one per node), like `dit4dit run`.

    ros2 launch dit4dit_ros dit4dit_g1.launch.py checkpoint:=DIR instruction:="..." [config:=YAML]
        [engine:=torch|onnxruntime|tensorrt] [enable:=false]

Same nodes as the simulation launch file, with the real camera instead of the simulator, and
config/g1_real.yaml (robot network interface, Unitree DDS domain 0, control path, clock server/offset). Run it
on the robot's computer with ROS_DOMAIN_ID set to anything but 0 (the nodes refuse to share the robot's DDS
domain); for a policy on another host see docs/split_host.md. Follow the README's "On a real G1" first.
`enable` defaults to false: enable by hand after checking the status (README).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def node_overrides(name):
    """The launch arguments each node takes on top of the YAML."""
    if name == "policy":
        return {
            "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
            "instruction": ParameterValue(LaunchConfiguration("instruction"), value_type=str),
            "engine": ParameterValue(LaunchConfiguration("engine"), value_type=str),
        }
    if name == "executor":
        return {"auto_enable": ParameterValue(LaunchConfiguration("enable"), value_type=bool)}
    return {}


def _graph(context):
    """Check the whole parameter file before any node starts (like `dit4dit run`), then start the nodes it has
    sections for (the node table, as `dit4dit run` does) with the stack's DDS transport (bringup/launch_support.py)."""
    from dit4dit_ros.bringup.launch_support import launch_nodes, prepare_launch

    config = LaunchConfiguration("config").perform(context)
    env = prepare_launch(config)  # raises with the node and key named: nothing is started
    return [SetEnvironmentVariable(key, value) for key, value in env.items()] + [
        Node(package="dit4dit_ros", executable=exe, name=name, output="screen",
             parameters=[config, node_overrides(name)])
        for exe, name in launch_nodes(config)
    ]


def generate_launch_description():
    share = get_package_share_directory("dit4dit_ros")
    arguments = [
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "g1_real.yaml"),
                              description="parameter YAML (one section per node)"),
        DeclareLaunchArgument("checkpoint", default_value=os.path.join(share, "models", "g1_reach_small"),
                              description="policy checkpoint directory"),
        DeclareLaunchArgument("instruction", default_value="", description="initial language instruction"),
        DeclareLaunchArgument("engine", default_value="torch", description="inference backend",
                              choices=["torch", "onnxruntime", "tensorrt"]),
        DeclareLaunchArgument("enable", default_value="false", description="enable the executor automatically",
                              choices=["true", "false"]),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_graph)])
