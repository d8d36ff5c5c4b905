"""Check a deployment's parameter file as a whole before any process starts (`dit4dit run`, the launch files).

rclpy silently drops a parameter a node does not declare, so a typo (`max_velocty: 3.0`) used to run the graph
on the default, and a bad value only failed when its node started, after the nodes before it were already up.
Here every section and key is checked against the ParamSpecs the nodes (and the supervisor) declare: unknown
nodes and keys (with a close match named), types, ranges, choices; errors name the file, the node and the key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from dit4dit_ros.bringup.graph import KNOWN_NODES
from dit4dit_ros.config import ParameterFileError, ParamSpec, check_parameter_file, validate_node_parameters
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE, SUPERVISOR_PARAMETERS


def graph_parameter_specs() -> dict[str, tuple[ParamSpec, ...]]:
    """Node name -> declared ParamSpecs, for every node the graph knows and for the supervisor."""
    from dit4dit_ros.nodes.ros_params import node_parameter_specs

    specs, without = node_parameter_specs([n.module for n in KNOWN_NODES])
    missing = [n.name for n in KNOWN_NODES if n.name not in specs]
    if without or missing:
        raise RuntimeError(f"node modules without NODE_NAME/PARAMETERS: {without or missing}: their parameters "
                           "could not be checked")
    specs[SUPERVISOR_NODE] = SUPERVISOR_PARAMETERS
    return specs


def check_deployment_file(path: str | Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
                          ) -> dict[str, dict[str, Any]]:
    """The effective parameters of every node (defaults overlaid by the file and `overrides`), or a
    ParameterFileError listing every problem of the file and of the overrides."""
    specs = graph_parameter_specs()
    effective = check_parameter_file(path, specs)
    problems: list[str] = []
    for node, values in (overrides or {}).items():
        if node not in specs:
            problems.append(f"override for unknown node {node!r}")
            continue
        problems += [f"override {p}" for p in validate_node_parameters(node, values, specs[node])]
        effective[node].update(values)
    if problems:
        raise ParameterFileError(f"{path}: " + "; ".join(problems))
    return effective
