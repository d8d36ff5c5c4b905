"""`dit4dit run` checks the whole parameter file before it starts any process: a typo, a wrong type or a value
out of range is an error naming the file, the node and the key (rclpy would silently drop an undeclared key and
run the graph on the default)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dit4dit_ros.bringup.validate import check_deployment_file, graph_parameter_specs
from dit4dit_ros.config import ParameterFileError
from dit4dit_ros.supervision.reactions import SUPERVISOR_NODE


def _variant(repo_root: str, tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(Path(repo_root, "config", "g1_sim.yaml").read_text())
    edit(data)
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.mark.parametrize("config", ["g1_sim.yaml", "g1_real.yaml"])
def test_shipped_configs_pass_the_whole_file_check(repo_root, config):
    effective = check_deployment_file(Path(repo_root, "config", config))
    assert set(graph_parameter_specs()) <= set(effective)
    assert effective[SUPERVISOR_NODE]["on_failure.monitor"] == "restart"


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d["executor"]["ros__parameters"].update(max_velocty=3.0),
     r"node 'executor': unknown parameter 'max_velocty' \(did you mean \['max_velocity'\]\?\)"),
    (lambda d: d["executor"]["ros__parameters"].update(max_velocity=3),
     r"node 'executor': parameter 'max_velocity': expected float, got 3 \(int\)"),
    (lambda d: d["executor"]["ros__parameters"].update(max_velocity=400.0),
     r"node 'executor': parameter 'max_velocity': 400.0 is above the maximum 40.0"),
    (lambda d: d.update(exectuor={"ros__parameters": {}}), r"section 'exectuor' names no known node"),
    (lambda d: d.update({SUPERVISOR_NODE: {"ros__parameters": {"on_failure.executor": "restart"}}}),
     r"node 'dit4dit_supervisor': parameter 'on_failure.executor': 'restart' is not one of \['stop'\]"),
])
def test_bad_files_name_the_node_and_key(repo_root, tmp_path, edit, expected):
    path = _variant(repo_root, tmp_path, edit)
    with pytest.raises(ParameterFileError, match=expected):
        check_deployment_file(path)


def test_command_line_overrides_are_checked_too(repo_root):
    with pytest.raises(ParameterFileError, match=r"override node 'policy': unknown parameter 'checkpont'"):
        check_deployment_file(Path(repo_root, "config", "g1_sim.yaml"), {"policy": {"checkpont": "x"}})


def test_dit4dit_run_refuses_a_typo_before_starting_any_node(repo_root, tmp_path):
    path = _variant(repo_root, tmp_path, lambda d: d["monitor"]["ros__parameters"].update(expected_rate=6.0))
    logs = tmp_path / "logs"
    done = subprocess.run([sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(path), "--duration", "5",
                           "--log-dir", str(logs)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"dit4dit run: {path}: node 'monitor': unknown parameter 'expected_rate'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not logs.exists() or not any(logs.iterdir())  # no node was started (each would have a log file)


@pytest.mark.parametrize("launch_file", ["dit4dit_sim.launch.py", "dit4dit_g1.launch.py"])
def test_launch_files_check_the_file_and_set_the_transport_before_any_node(repo_root, tmp_path, launch_file,
                                                                         monkeypatch):
    """launch_ros is not installable here: the launch file runs against stand-ins of launch/launch_ros
    (launch_fakes.py) from the source tree, with the shipped file and with a typo in it."""
    from launch_fakes import load_launch_description, resolve  # tests/bringup is on sys.path

    monkeypatch.setenv("AMENT_PREFIX_PATH", str(_ament_prefix(repo_root, tmp_path)))
    description = load_launch_description(Path(repo_root, "launch", launch_file), monkeypatch)
    config = "g1_sim.yaml" if "sim" in launch_file else "g1_real.yaml"
    _, env, nodes = resolve(description, {"config": str(Path(repo_root, "config", config))})
    assert nodes and Path(env["FASTDDS_DEFAULT_PROFILES_FILE"]).is_file()
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
    bad = _variant(repo_root, tmp_path, lambda d: d["executor"]["ros__parameters"].update(max_velocty=3.0))
    with pytest.raises(ParameterFileError, match="max_velocty"):  # raised before any Node is built
        resolve(description, {"config": str(bad)})


def _ament_prefix(repo_root: str, tmp_path: Path) -> Path:
    """A minimal ament prefix whose share/dit4dit_ros is the source tree (what the launch files' defaults need)."""
    prefix = tmp_path / "prefix"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "dit4dit_ros").touch()
    (prefix / "share" / "dit4dit_ros").symlink_to(Path(repo_root).resolve())
    return prefix
