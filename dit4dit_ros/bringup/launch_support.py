"""What the launch files do before they start any node (launch_ros itself is not installable from PyPI, so the
logic lives here, tested, and the launch files only call it from an OpaqueFunction).

`prepare_launch(config)`: the whole parameter file is checked exactly as `dit4dit run` checks it (a typo stops the
launch with the node and key named, before any process starts), and the environment every node must get is
returned: the stack's DDS transport for the addresses the file names (utils/dds_transport.py).
`launch_nodes(config)`: the (executable, node name) pairs to start, the nodes of the node table that have a
section in the file, in start order: the very nodes `dit4dit run --config` starts.
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
