"""The deployment parameter files (config/g1_sim.yaml, config/g1_real.yaml) and FastDDS profiles.

Every section must name a known node and every key must be a parameter that node declares with the right
type and range: checked without ROS (dit4dit_ros.config) and by rclpy itself (--params-file on a node
declaring the same ParamSpecs).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dit4dit_ros.bringup.graph import KNOWN_NODES
from dit4dit_ros.config import check_parameter_file, load_parameter_file
from dit4dit_ros.nodes.ros_params import node_parameter_specs

CONFIGS = ("g1_sim.yaml", "g1_real.yaml")


def _specs():
    specs, without = node_parameter_specs([n.module for n in KNOWN_NODES])
    known_names = {n.name for n in KNOWN_NODES}
    assert set(specs) <= known_names, f"NODE_NAME of a node module is not its graph name: {set(specs) - known_names}"
    unchecked = known_names - set(specs)
    from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE, SUPERVISOR_PARAMETERS

    specs[SUPERVISOR_NODE] = SUPERVISOR_PARAMETERS  # `dit4dit run`'s own section
    return specs, unchecked


@pytest.mark.parametrize("name", CONFIGS)
def test_config_sections_match_declared_parameters(repo_root, name):
    specs, unchecked = _specs()
    assert {"camera", "g1_state"} <= set(specs)
    effective = check_parameter_file(Path(repo_root, "config", name), specs, unchecked_nodes=unchecked)
    assert effective["g1_state"]["lowstate_topic"] == "rt/lowstate"


def test_sim_and_real_differ_only_in_deployment_keys(repo_root):
    sim = load_parameter_file(Path(repo_root, "config", "g1_sim.yaml"))
    real = load_parameter_file(Path(repo_root, "config", "g1_real.yaml"))
    assert sim["/**"]["use_sim_time"] is True and real["/**"]["use_sim_time"] is False
    assert set(sim["g1_state"]) == set(real["g1_state"])
    differing = {k for k in sim["g1_state"] if sim["g1_state"][k] != real["g1_state"][k]}
    # stamp_source: the simulator's tick is its simulation time, the robot's is its uptime
    assert differing <= {"unitree_domain_id", "unitree_interface", "stale_timeout_s", "publish_rate", "stamp_source"}
    assert real["g1_state"]["unitree_domain_id"] == 0 and sim["g1_state"]["unitree_interface"] == "lo"
    assert "camera" in real and "camera" not in sim  # in sim the simulator publishes the ego camera


@pytest.mark.parametrize("name", CONFIGS)
def test_rclpy_accepts_the_files_for_my_nodes(repo_root, name):
    import rclpy

    from dit4dit_ros.nodes.ros_params import declare_parameters

    specs, _ = _specs()
    path = Path(repo_root, "config", name)
    for node_name in ("camera", "g1_state"):
        ctx = rclpy.Context()
        rclpy.init(args=["--ros-args", "--params-file", str(path)], context=ctx)
        try:
            node = rclpy.create_node(node_name, context=ctx)
            values = declare_parameters(node, specs[node_name])
            file_values = load_parameter_file(path).get(node_name, {})
            assert all(values[k] == v for k, v in file_values.items())
            node.destroy_node()
        finally:
            rclpy.shutdown(context=ctx)


# fastdds_robot_shm.xml is gone: the stack generates its profiles (utils/dds_transport.py).
@pytest.mark.parametrize("name", ["fastdds_lo_shm.xml", "fastdds_lo_interop_notypes.xml", "fastdds_split_host.xml"])
def test_fastdds_profiles_are_well_formed(repo_root, name):
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(Path(repo_root, "config", name)).getroot()
    participant = root.find("d:profiles/d:participant", ns)
    assert participant is not None and participant.get("is_default_profile") == "true"
    transports = {t.findtext("d:transport_id", namespaces=ns): t for t in root.iterfind(".//d:transport_descriptor", ns)}
    used = [e.text for e in participant.iterfind(".//d:userTransports/d:transport_id", ns)]
    assert used and set(used) <= set(transports)
    shm = transports["shm_big"]
    assert int(shm.findtext("d:segment_size", namespaces=ns)) >= 640 * 480 * 3 * 2  # two 640x480 rgb8 frames
    if "_lo_" in name:  # loopback profiles must never reach a real network interface
        assert root.find(".//d:interfaceWhiteList/d:address", ns).text == "127.0.0.1"
