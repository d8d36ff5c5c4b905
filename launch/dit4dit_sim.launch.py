"""Start the DiT4DiT graph on the simulated G1 (separate processes, one per node), like `dit4dit run`.

    ros2 launch dit4dit_ros dit4dit_sim.launch.py checkpoint:=DIR instruction:="..." [config:=YAML]
        [engine:=torch|onnxruntime|tensorrt] [enable:=true] [unitree_domain:=N]

Same nodes and the same parameter YAML as `dit4dit run --config config/g1_sim.yaml`. Defaults: the installed
config/g1_sim.yaml and the shipped demo checkpoint models/g1_reach_small. The instruction goes to the policy as
its initial instruction (change it live on /dit4dit/instruction). `enable` sets the executor's auto_enable.
The simulated robot's Unitree DDS domain (`unitree_domain`, default 150) must differ from ROS_DOMAIN_ID: the
nodes refuse to share one domain between FastDDS and CycloneDDS.
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
             parameters=[config, {"use_sim_time": True, **node_overrides(name)}])
        for exe, name in launch_nodes(config)
    ]


def generate_launch_description():
    share = get_package_share_directory("dit4dit_ros")
    arguments = [
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "g1_sim.yaml"),
                              description="parameter YAML (one section per node)"),
        DeclareLaunchArgument("checkpoint", default_value=os.path.join(share, "models", "g1_reach_small"),
                              description="policy checkpoint directory"),
        DeclareLaunchArgument("instruction", default_value="", description="initial language instruction"),
        DeclareLaunchArgument("engine", default_value="torch", description="inference backend",
                              choices=["torch", "onnxruntime", "tensorrt"]),
        DeclareLaunchArgument("enable", default_value="false", description="enable the executor automatically",
                              choices=["true", "false"]),
        DeclareLaunchArgument("unitree_domain", default_value="150",
                              description="Unitree DDS domain of the simulated robot (not ROS_DOMAIN_ID)"),
        SetEnvironmentVariable("DIT4DIT_UNITREE_DOMAIN", LaunchConfiguration("unitree_domain")),
        SetEnvironmentVariable("DIT4DIT_UNITREE_INTERFACE", "lo"),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_graph)])
