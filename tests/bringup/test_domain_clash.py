"""ROS 2 (FastDDS) and the Unitree SDK (CycloneDDS) on one DDS domain: refused at start, with the fix.

The robot and ROS both default to domain 0, and the two DDS stacks on one domain break each other
(utils/dds_env.py). The check runs in every entry point that joins the Unitree domain (init_unitree_dds:
g1_state, the executor, the sim robot, the recorder) and in `dit4dit run` before any process starts.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dit4dit_ros.bringup.graph import check_unitree_domains, graph_from_yaml, load_parameter_yaml
from dit4dit_ros.utils.dds_env import DdsIsolation, DomainClashError, domain_clash, require_no_domain_clash


def _iso(ros: int, unitree: int) -> DdsIsolation:
    return DdsIsolation(ros_domain_id=ros, unitree_domain_id=unitree, unitree_interface="lo")


def test_distinct_domains_are_fine_and_equal_ones_are_refused_with_the_fix():
    assert domain_clash(_iso(1, 0), {}) is None
    reason = domain_clash(_iso(0, 0), {})
    assert reason is not None and "ROS_DOMAIN_ID 0 equals the Unitree DDS domain 0" in reason
    assert "export ROS_DOMAIN_ID=1" in reason and "fastdds_lo_interop_notypes.xml" in reason
    with pytest.raises(DomainClashError, match="equals the Unitree DDS domain 7"):
        require_no_domain_clash(_iso(7, 7), {})


def test_the_interop_profile_or_cyclonedds_for_ros_make_one_domain_acceptable(repo_root):
    interop = str(Path(repo_root, "config", "fastdds_lo_interop_notypes.xml"))
    plain = str(Path(repo_root, "config", "fastdds_lo_shm.xml"))
    assert domain_clash(_iso(3, 3), {"FASTDDS_DEFAULT_PROFILES_FILE": interop}) is None
    assert domain_clash(_iso(3, 3), {"FASTDDS_DEFAULT_PROFILES_FILE": plain}) is not None
    assert domain_clash(_iso(3, 3), {"FASTDDS_DEFAULT_PROFILES_FILE": "/nonexistent.xml"}) is not None
    assert domain_clash(_iso(3, 3), {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) is None


def test_graph_check_uses_each_nodes_parameter_then_the_environment(repo_root):
    data = load_parameter_yaml(Path(repo_root, "config", "g1_real.yaml"))  # unitree_domain_id: 0
    nodes = graph_from_yaml(data)
    check_unitree_domains(data, nodes, {"ROS_DOMAIN_ID": "1"})
    with pytest.raises(DomainClashError, match="node g1_state: ROS_DOMAIN_ID 0 equals"):
        check_unitree_domains(data, nodes, {})  # ROS default domain 0 == the robot's 0
    sim = load_parameter_yaml(Path(repo_root, "config", "g1_sim.yaml"))  # -1: the environment's domain
    check_unitree_domains(sim, graph_from_yaml(sim), {"ROS_DOMAIN_ID": "5", "DIT4DIT_UNITREE_DOMAIN": "125"})
    with pytest.raises(DomainClashError, match="node sim_robot"):
        check_unitree_domains(sim, graph_from_yaml(sim), {"ROS_DOMAIN_ID": "5", "DIT4DIT_UNITREE_DOMAIN": "5"})


def _clashing_env(dds_isolation) -> dict[str, str]:
    env = dict(os.environ)
    env["DIT4DIT_UNITREE_DOMAIN"] = str(dds_isolation.ros_domain_id)  # this run's own ROS domain: nobody else's
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    return env


def test_a_node_joining_the_unitree_domain_refuses_to_start(repo_root, dds_isolation):
    proc = subprocess.run(
        [sys.executable, "-m", "dit4dit_ros.nodes.g1_state_node", "--ros-args",
         "--params-file", str(Path(repo_root, "config", "g1_sim.yaml")), "-p", "g1_state:use_sim_time:=false"],
        env=_clashing_env(dds_isolation), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2  # nodes/spin.py: a node that cannot start says why and exits 2
    assert "equals the Unitree DDS domain" in proc.stderr + proc.stdout, proc.stderr


def test_dit4dit_run_refuses_before_starting_any_node(repo_root, dds_isolation, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(Path(repo_root, "config", "g1_sim.yaml")),
         "--duration", "5", "--log-dir", str(tmp_path / "logs")],
        env=_clashing_env(dds_isolation), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "refusing to start: node sim_robot: ROS_DOMAIN_ID" in proc.stderr
    assert not any((tmp_path / "logs").glob("*.log"))  # no node was started
