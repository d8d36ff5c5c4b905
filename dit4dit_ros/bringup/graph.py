"""Which nodes make up the graph, derived from the parameter YAML.

The YAML of a deployment (config/g1_sim.yaml, config/g1_real.yaml) has one section per node; the node name
is the section key. The graph started by `dit4dit run` is the set of known nodes that have a section, in a
fixed start order: the robot (or simulator) first, then perception, then the policy, the executor last, so
that the executor only starts commanding once its inputs exist. The launch files start the same nodes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from dit4dit_ros.node_table import NODES
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE
from dit4dit_ros.utils.dds_env import UNITREE_DOMAIN_ENV, UNITREE_INTERFACE_ENV, DdsIsolation, require_no_domain_clash


@dataclass(frozen=True)
class NodeSpec:
    name: str  # ROS node name = YAML section
    module: str  # python module with main(), also the console script target
    executable: str  # console-script / ros2 run name
    nice: int = 0  # scheduling priority asked for (negative = more CPU); applied where permitted


# Start order (see module docstring) and priorities come from the one node table; stop order is the reverse,
# except that the executor is always stopped first so the robot goes to damping before anything else disappears.
KNOWN_NODES: tuple[NodeSpec, ...] = tuple(NodeSpec(n.name, n.module, n.executable, n.nice) for n in NODES)
KNOWN_BY_NAME = {n.name: n for n in KNOWN_NODES}


def load_parameter_yaml(path: str | Path) -> dict:
    """Read a ROS 2 parameter YAML as written (nested `node: {ros__parameters: ...}`), so that variants of it
    can be written back; its structure is checked by dit4dit_ros.config (errors name the file and the key)."""
    from dit4dit_ros.config import parse_parameter_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} does not exist")
    text = path.read_text()
    parse_parameter_yaml(text, str(path))
    return yaml.safe_load(text) or {}


def graph_from_yaml(data: dict, exclude: "set[str] | None" = None) -> list[NodeSpec]:
    """The nodes to start, in start order. Unknown sections (other than '/**' and the supervisor's own) are an
    error."""
    exclude = exclude or set()
    unknown = [k for k in data if k not in KNOWN_BY_NAME and k not in ("/**", SUPERVISOR_NODE)]
    if unknown:
        raise ValueError(f"unknown node section(s) {unknown}; known nodes: {[n.name for n in KNOWN_NODES]}")
    bad_excl = exclude - set(KNOWN_BY_NAME)
    if bad_excl:
        raise ValueError(f"cannot exclude unknown node(s) {sorted(bad_excl)}")
    return [n for n in KNOWN_NODES if n.name in data and n.name not in exclude]


def node_parameters(data: dict, node: str) -> dict:
    """The parameters a node gets from the YAML: '/**' (global) overlaid by its own section."""
    merged = dict(data.get("/**", {}).get("ros__parameters", {}))
    merged.update(data.get(node, {}).get("ros__parameters", {}))
    return merged


# Nodes that join the Unitree DDS domain: their `unitree_domain_id` parameter (-1 = the environment's), or the
# environment's for nodes without that parameter.
UNITREE_DDS_NODES: frozenset[str] = frozenset({"sim_robot", "g1_state", "executor", "recorder"})


def check_unitree_domains(data: dict, nodes: list[NodeSpec], environ: Mapping[str, str] | None = None) -> None:
    """DomainClashError before anything starts if a node of the graph would put Unitree DDS on the ROS domain."""
    env = os.environ if environ is None else environ
    ros_domain = int(env.get("ROS_DOMAIN_ID", "0") or 0)
    env_domain = int(env.get(UNITREE_DOMAIN_ENV, "0") or 0)
    for spec in nodes:
        if spec.name not in UNITREE_DDS_NODES:
            continue
        domain = int(node_parameters(data, spec.name).get("unitree_domain_id", -1))
        isolation = DdsIsolation(ros_domain_id=ros_domain, unitree_domain_id=env_domain if domain < 0 else domain,
                                 unitree_interface=env.get(UNITREE_INTERFACE_ENV, "lo") or "lo")
        try:
            require_no_domain_clash(isolation, env)
        except RuntimeError as exc:
            raise type(exc)(f"node {spec.name}: {exc}") from None
