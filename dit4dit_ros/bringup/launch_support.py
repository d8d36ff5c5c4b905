"""What the launch files do before they start any node (launch_ros itself is not installable from PyPI, so the
logic lives here, tested, and the launch files only call it from an OpaqueFunction).

`prepare_launch(config)`: the whole parameter file is checked exactly as `dit4dit run` checks it (a typo stops the
launch with the node and key named, before any process starts), and the environment every node must get is
returned: the stack's DDS transport for the addresses the file names (utils/dds_transport.py).
`launch_nodes(config)`: the (executable, node name) pairs to start, the nodes of the node table that have a
section in the file, in start order: the very nodes `dit4dit run --config` starts.
`launch_arguments(default_config)` and `launch_graph(context, common)`: what both launch files declare and
start, written once (they import launch/launch_ros, so they run only inside `ros2 launch`).
"""
from __future__ import annotations

from pathlib import Path

from dit4dit_ros.bringup.graph import graph_from_yaml, load_parameter_yaml
from dit4dit_ros.bringup.validate import check_deployment_file
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE
from dit4dit_ros.utils.dds_transport import configure_ros_transport


def prepare_launch(config: str | Path) -> dict[str, str]:
    """Raises ParameterFileError for a bad file; returns {variable: value} to set for every node."""
    effective = check_deployment_file(config)
    env: dict[str, str] = {}
    configure_ros_transport(effective[SUPERVISOR_NODE]["ros_addresses"], environ=env)
    return env


def launch_nodes(config: str | Path) -> list[tuple[str, str]]:
    """(executable, node name) of every node the parameter file has a section for, in start order."""
    return [(spec.executable, spec.name) for spec in graph_from_yaml(load_parameter_yaml(config))]


# The launch arguments each node takes on top of the YAML: {node: {parameter: (launch argument, type)}}.
NODE_LAUNCH_ARGUMENTS: dict[str, dict[str, tuple[str, type]]] = {
    "policy": {"checkpoint": ("checkpoint", str), "instruction": ("instruction", str), "engine": ("engine", str)},
    "executor": {"auto_enable": ("enable", bool)},
}
ENGINES = ["torch", "onnxruntime", "tensorrt"]


def launch_arguments(default_config: str) -> list:
    """The arguments both launch files declare (config, checkpoint, instruction, engine, enable)."""
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument

    share = get_package_share_directory("dit4dit_ros")
    return [
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", default_config),
                              description="parameter YAML (one section per node)"),
        DeclareLaunchArgument("checkpoint", default_value=os.path.join(share, "models", "g1_reach_small"),
                              description="policy checkpoint directory"),
        DeclareLaunchArgument("instruction", default_value="", description="initial language instruction"),
        DeclareLaunchArgument("engine", default_value="torch", description="inference backend", choices=ENGINES),
        DeclareLaunchArgument("enable", default_value="false", description="enable the executor automatically",
                              choices=["true", "false"]),
    ]


def launch_graph(context, common: dict | None = None) -> list:
    """The launch file's OpaqueFunction: check the parameter file named by the `config` argument exactly as
    `dit4dit run` does (a bad file raises with the node and key named, before any Node is built), then one Node
    per node of launch_nodes(config), with the YAML, the `common` parameters (e.g. use_sim_time), the node's
    launch arguments (NODE_LAUNCH_ARGUMENTS) and the stack's DDS transport in every node's environment."""
    from launch.actions import SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    from launch_ros.parameter_descriptions import ParameterValue

    config = LaunchConfiguration("config").perform(context)
    env = prepare_launch(config)  # raises: nothing is started

    def overrides(name: str) -> dict:
        return {param: ParameterValue(LaunchConfiguration(arg), value_type=kind)
                for param, (arg, kind) in NODE_LAUNCH_ARGUMENTS.get(name, {}).items()}

    return [SetEnvironmentVariable(key, value) for key, value in env.items()] + [
        Node(package="dit4dit_ros", executable=exe, name=name, output="screen",
             parameters=[config, {**(common or {}), **overrides(name)}])
        for exe, name in launch_nodes(config)
    ]
