"""colcon and launch: the package builds with colcon, finds its data files installed, and launches right.

A colcon build (colcon-common-extensions, requirements/dev.txt) into a temporary directory, then, as a ROS
user would after `source install/setup.bash`: `dit4dit` is on PATH, `ros2 run dit4dit_ros <exe>` finds every
executable (ros2 run looks in <prefix>/lib/<package>; the `ros2` CLI itself is not on PyPI, so the test
resolves the path as it does), `dit4dit info` reports the installed package and its installed config/ and
models/, and a short simulated run of the installed graph (sim robot, g1_state, policy with the installed demo
checkpoint) produces action chunks.

The launch files are executed with stand-ins for `launch`/`launch_ros` (not installable here, see
launch_fakes.py) against the installed share directory: every node, executable, parameter file, launch
argument and parameter value they would use is checked against setup.py, the YAML and the nodes'
declarations. Running them under a real `ros2 launch` needs a ROS distro (ros2_ws/README.md, docker/).
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dit4dit_ros.bringup.graph import KNOWN_NODES, graph_from_yaml, load_parameter_yaml
from dit4dit_ros.bringup.processes import stop_run
from dit4dit_ros.bringup.validate import check_deployment_file
from dit4dit_ros.config import load_parameter_file
from dit4dit_ros.node_table import NODES
from dit4dit_ros.nodes.ros_params import node_parameter_specs
from dit4dit_ros.utils.waiting import wait_until

from launch_fakes import load_launch_description, resolve  # noqa: E402  (tests/bringup is on sys.path)

VENV_BIN = Path(sys.executable).parent
DEMO_INSTRUCTION = "touch the red cube with the right hand"  # the shipped checkpoint's cached prompt


def _setup_executables(repo_root: str) -> dict[str, str]:
    """The node executables setup.py installs: those of the node table (setup.py reads dit4dit_ros/node_table.py)."""
    assert "node_table.py" in Path(repo_root, "setup.py").read_text(), "setup.py must take its nodes from the table"
    return {n.executable: f"{n.module}:main" for n in NODES}


def _ros_imports(repo_root: str) -> set[str]:
    """Top-level modules imported by the package and the launch files that are ROS packages."""
    index = Path(sys.prefix, "share", "ament_index", "resource_index", "packages")
    ros_packages = {p.name for p in index.iterdir()} | {"launch", "launch_ros"}  # launch: not installable here
    found = set()
    files = list(Path(repo_root, "dit4dit_ros").rglob("*.py")) + list(Path(repo_root, "launch").glob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found & ros_packages


def test_package_xml_declares_every_ros_import(repo_root):
    root = ET.parse(Path(repo_root, "package.xml")).getroot()
    declared = {e.text for tag in ("depend", "exec_depend", "build_depend") for e in root.iter(tag)}
    imported = _ros_imports(repo_root)
    assert {"rclpy", "rcl_interfaces", "ament_index_python", "launch_ros"} <= imported
    assert imported <= declared, f"package.xml misses {sorted(imported - declared)}"


@pytest.fixture(scope="module")
def colcon_install(repo_root, tmp_path_factory):
    if shutil.which("colcon", path=str(VENV_BIN)) is None:
        pytest.fail("colcon is missing: requirements/dev.txt pins colcon-common-extensions (scripts/dev.sh setup)")
    base = tmp_path_factory.mktemp("colcon")
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["colcon", "--log-base", str(base / "log"), "build", "--base-paths", repo_root, "--build-base",
         str(base / "build"), "--install-base", str(base / "install"), "--packages-select", "dit4dit_ros"],
        cwd=base, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return base / "install"


def _sourced(install: Path, command: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`command` in bash after `source install/setup.bash`, outside the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    return subprocess.run(["bash", "-c", f"source {install}/setup.bash && {command}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_install_layout(colcon_install, repo_root):
    prefix = colcon_install / "dit4dit_ros"
    for exe in list(_setup_executables(repo_root)) + ["dit4dit"]:
        assert os.access(prefix / "lib" / "dit4dit_ros" / exe, os.X_OK), f"ros2 run would not find {exe}"
    assert os.access(prefix / "bin" / "dit4dit", os.X_OK)
    share = prefix / "share" / "dit4dit_ros"
    for name in ("g1_sim.yaml", "g1_real.yaml", "fastdds_split_host.xml", "cyclonedds_g1_robot.xml",
                 "split_host_env.sh"):
        assert (share / "config" / name).is_file(), name
    assert (share / "models" / "g1_reach_small" / "config.json").is_file()
    assert {p.name for p in (share / "launch").iterdir()} >= {"dit4dit_sim.launch.py", "dit4dit_g1.launch.py"}
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "dit4dit_ros").is_file()


def test_sourced_install_runs_the_installed_package_with_its_installed_data(colcon_install, tmp_path):
    proc = _sourced(colcon_install, "command -v dit4dit && dit4dit info --json", tmp_path)
    assert proc.returncode == 0, proc.stderr
    where, _, text = proc.stdout.partition("\n")
    assert where == str(colcon_install / "dit4dit_ros" / "bin" / "dit4dit")
    info = json.loads(text)
    share = colcon_install / "dit4dit_ros" / "share" / "dit4dit_ros"
    assert info["package"].startswith(str(colcon_install)), info["package"]
    assert info["config_dir"] == str(share / "config") and info["models_dir"] == str(share / "models")
    # `ros2 run dit4dit_ros dit4dit info`: ros2 run executes <package prefix>/lib/<package>/<executable>
    proc = _sourced(colcon_install, "python -c \"from ament_index_python.packages import get_package_prefix; "
                    "print(get_package_prefix('dit4dit_ros'))\"", tmp_path)
    prefix = Path(proc.stdout.strip())
    assert prefix == colcon_install / "dit4dit_ros", proc.stderr
    proc = _sourced(colcon_install, f"{prefix}/lib/dit4dit_ros/dit4dit info", tmp_path)
    assert proc.returncode == 0 and f"config  {share / 'config'}" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_installed_sim_graph_produces_chunks(colcon_install, tmp_path):
    """The installed graph: sim robot + g1_state + policy with the installed demo checkpoint, by their names."""
    share = colcon_install / "dit4dit_ros" / "share" / "dit4dit_ros"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    out_path = tmp_path / "run.out"
    with open(out_path, "w") as out:
        run = subprocess.Popen(
            ["bash", "-c", f"source {colcon_install}/setup.bash && exec dit4dit run --config "
             f"{share}/config/g1_sim.yaml --only sim_robot g1_state policy --checkpoint "
             f"{share}/models/g1_reach_small --instruction '{DEMO_INSTRUCTION}' --duration 240 "
             f"--log-dir {tmp_path}/logs"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        def chunks() -> int:
            counts = [int(part.split(")")[0]) for part in out_path.read_text().split("(n=")[1:]]
            return max(counts, default=0)

        wait_until(lambda: chunks() >= 1 or run.poll() is not None, 240.0, what="a chunk from the installed graph")
    finally:
        code = stop_run(run, grace=30.0)
    text = out_path.read_text()
    assert chunks() >= 1, f"no action chunk from the installed graph:\n{text[-3000:]}"
    assert code == 0 and "graph up: sim_robot, g1_state, policy" in text, text[-3000:]
    assert str(share / "models" / "g1_reach_small") in (tmp_path / "logs" / "policy.log").read_text()


# -- launch files ----------------------------------------------------------------------------------------
LAUNCH_FILES = {"dit4dit_sim.launch.py": "g1_sim.yaml", "dit4dit_g1.launch.py": "g1_real.yaml"}


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_FILES))
def test_launch_file_nodes_parameters_and_arguments(colcon_install, repo_root, launch_file, monkeypatch):
    prefix = colcon_install / "dit4dit_ros"
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{prefix}:{os.environ.get('AMENT_PREFIX_PATH', '')}")
    share = prefix / "share" / "dit4dit_ros"
    description = load_launch_description(share / "launch" / launch_file, monkeypatch)
    declared, env, nodes = resolve(description)
    assert {"config", "checkpoint", "instruction", "engine", "enable"} <= set(declared)

    config = Path(nodes[0].parameter_files[0])
    assert config == share / "config" / LAUNCH_FILES[launch_file]
    graph = [n.name for n in graph_from_yaml(load_parameter_yaml(config))]
    assert sorted(n.name for n in nodes) == sorted(graph), "the launch file must start the nodes `dit4dit run` starts"
    executables = _setup_executables(repo_root)
    specs, _ = node_parameter_specs([n.module for n in KNOWN_NODES])
    check_deployment_file(config)  # the whole file, as `dit4dit run` and the launch file itself check it
    assert Path(env["FASTDDS_DEFAULT_PROFILES_FILE"]).is_file()  # the stack's transport, set by the launch file
    for node in nodes:
        assert node.package == "dit4dit_ros" and node.executable in executables
        assert os.access(prefix / "lib" / "dit4dit_ros" / node.executable, os.X_OK)
        assert node.parameter_files == [str(config)]
        declared_params = {s.name: s for s in specs[node.name]}
        for key, value in node.parameters.items():
            if key == "use_sim_time":
                assert value is True and launch_file == "dit4dit_sim.launch.py"
                continue
            assert key in declared_params, f"{node.name} does not declare {key}"
            declared_params[key].check(value)  # type and range, as rclpy would enforce
    by_name = {n.name: n for n in nodes}
    policy = by_name["policy"].parameters
    assert Path(policy["checkpoint"]) == share / "models" / "g1_reach_small"
    assert (Path(policy["checkpoint"]) / "config.json").is_file()
    assert by_name["executor"].parameters["auto_enable"] is False

    _, _, nodes = resolve(description, {"checkpoint": "/ckpt", "instruction": "pick the cube", "engine": "onnxruntime",
                                        "enable": "true", "config": str(share / "config" / LAUNCH_FILES[launch_file])})
    by_name = {n.name: n for n in nodes}
    assert by_name["policy"].parameters == {**({"use_sim_time": True} if "sim" in launch_file else {}),
                                            "checkpoint": "/ckpt", "instruction": "pick the cube",
                                            "engine": "onnxruntime"}
    assert by_name["executor"].parameters["auto_enable"] is True
    with pytest.raises(ValueError, match="engine"):
        resolve(description, {"engine": "tensorflow"})
    if launch_file == "dit4dit_sim.launch.py":
        assert env["DIT4DIT_UNITREE_INTERFACE"] == "lo" and 0 < int(env["DIT4DIT_UNITREE_DOMAIN"]) <= 232
        sim = load_parameter_file(config)
        assert sim["/**"]["use_sim_time"] is True


def test_paths_work_without_an_ament_environment(monkeypatch, repo_root):
    from dit4dit_ros import paths

    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert paths.shared_dir("config") == Path(repo_root, "config")
    assert paths._ament_share_dir() is None
    with pytest.raises(ValueError, match="kind must be"):
        paths.shared_dir("weights")
