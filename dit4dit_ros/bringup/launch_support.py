"""What the launch files do before they start any node (launch_ros itself is not installable from PyPI, so the
logic lives here, tested, and the launch files only call it from an OpaqueFunction).

`prepare_launch(config)`: the whole parameter file is checked exactly as `dit4dit run` checks it (a typo stops the
launch with the node and key named, before any process starts), and the environment every node must get is
returned: the stack's DDS transport for the addresses the file names (utils/dds_transport.py).
"""
from __future__ import annotations

from pathlib import Path

from dit4dit_ros.bringup.validate import check_deployment_file
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE
from dit4dit_ros.utils.dds_transport import configure_ros_transport


def prepare_launch(config: str | Path) -> dict[str, str]:
    """Raises ParameterFileError for a bad file; returns {variable: value} to set for every node."""
    effective = check_deployment_file(config)
    env: dict[str, str] = {}
    configure_ros_transport(effective[SUPERVISOR_NODE]["ros_addresses"], environ=env)
    return env
