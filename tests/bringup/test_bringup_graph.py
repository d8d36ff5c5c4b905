"""The graph definition used by `dit4dit run` and the launch files."""
from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from dit4dit_ros.bringup.graph import KNOWN_NODES, graph_from_yaml, load_parameter_yaml, node_parameters
from dit4dit_ros.bringup.launch_support import launch_nodes
from dit4dit_ros.bringup.processes import node_command, ros_value


def test_graph_order_and_unknown_sections(tmp_path):
    data = {"executor": {"ros__parameters": {}}, "sim_robot": {"ros__parameters": {}}, "policy": {"ros__parameters": {}}}
    assert [n.name for n in graph_from_yaml(data)] == ["sim_robot", "policy", "executor"]
    assert [n.name for n in graph_from_yaml(data, exclude={"policy"})] == ["sim_robot", "executor"]
    with pytest.raises(ValueError, match="unknown node section"):
        graph_from_yaml({"planner": {"ros__parameters": {}}})
    with pytest.raises(ValueError, match="cannot exclude unknown"):
        graph_from_yaml(data, exclude={"nope"})


def test_parameter_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_parameter_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy:\n  rate_hz: 6\n")
    with pytest.raises(ValueError, match=r"bad.yaml: 'policy/rate_hz' must map to 'ros__parameters'"):
        load_parameter_yaml(bad)
    bad.write_text("policy: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_parameter_yaml(bad)


def test_global_section_is_overlaid_by_node_section():
    data = {"/**": {"ros__parameters": {"use_sim_time": True, "rate_hz": 1.0}}, "policy": {"ros__parameters": {"rate_hz": 6.0}}}
    assert node_parameters(data, "policy") == {"use_sim_time": True, "rate_hz": 6.0}


def test_node_command_line():
    spec = KNOWN_NODES[0]
    cmd = node_command(spec, Path("/x/c.yaml"), {"checkpoint": "models/demo", "rate_hz": 6.0, "flag": True, "s": "a b"})
    assert cmd[1:3] == ["-m", spec.module]
    assert ["-r", f"__node:={spec.name}"] == cmd[cmd.index("-r"):cmd.index("-r") + 2]
    n = spec.name
    assert f"{n}:checkpoint:=models/demo" in cmd and f"{n}:rate_hz:=6.0" in cmd and f"{n}:flag:=true" in cmd
    assert f"{n}:s:='a b'" in cmd
    assert ros_value(False) == "false"


@pytest.mark.parametrize("launch_file", ["dit4dit_sim.launch.py", "dit4dit_g1.launch.py"])
def test_launch_files_name_installed_executables_and_yaml_sections(repo_root, launch_file):
    """launch_ros is not installable here: check what it would use (entry points and YAML sections)."""
    import inspect

    from dit4dit_ros.bringup.launch_support import launch_graph

    source = (Path(repo_root) / "launch" / launch_file).read_text()
    assert "OpaqueFunction(function=launch_graph" in source, f"{launch_file} must start its nodes by launch_graph"
    assert "launch_nodes(config)" in inspect.getsource(launch_graph), \
        "launch_graph must start the nodes the node table gives for the YAML"
    scripts = {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}
    known = {n.name: n.executable for n in KNOWN_NODES}
    yaml_file = "g1_sim.yaml" if "sim" in launch_file else "g1_real.yaml"
    config = Path(repo_root) / "config" / yaml_file
    sections = set(load_parameter_yaml(config))
    graph = launch_nodes(config)
    assert graph, f"{launch_file} would start nothing from {yaml_file}"
    for executable, name in graph:
        assert executable in scripts, f"{executable} is not an installed console script"
        assert known[name] == executable, f"launch file starts {executable} as {name}, bringup uses {known[name]}"
        assert name in sections, f"{yaml_file} has no section for node {name}"
    assert [name for _, name in graph] == [n.name for n in graph_from_yaml(load_parameter_yaml(config))]


def test_every_node_list_comes_from_the_node_table():
    """setup.py's entry points (as installed), `dit4dit run`'s known nodes and the supervisor's reactions agree."""
    from dit4dit_ros.node_table import NODES
    from dit4dit_ros.supervision.reactions import ALLOWED_REACTIONS

    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")
                 if ep.value.startswith("dit4dit_ros.nodes.")}
    assert installed == {n.executable: f"{n.module}:main" for n in NODES}
    assert [(s.name, s.module, s.executable, s.nice) for s in KNOWN_NODES] == [
        (n.name, n.module, n.executable, n.nice) for n in NODES]
    assert list(ALLOWED_REACTIONS) == [n.name for n in NODES]
    assert all(ALLOWED_REACTIONS[n.name][0].value == n.on_failure[0] for n in NODES)
    for n in NODES:
        assert importlib.util.find_spec(n.module) is not None, f"{n.name}: no module {n.module}"