"""Transport and binding are set by the stack, not by the user's shell.

Run from a clean environment (no FASTDDS_DEFAULT_PROFILES_FILE, no ROS_* variables: what a user's plain shell
has), `dit4dit bench record` loses no frame and the graph of `dit4dit run` binds no ROS socket to a wildcard
address (before: 72 of 900 frames recorded, every node on 0.0.0.0)."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dit4dit_ros.safety.sockets import bound_sockets, cyclone_unicast_ports
from dit4dit_ros.utils.dds_transport import (
    CYCLONE_MAX_PARTICIPANT_INDEX,
    PROFILE_ENV,
    TRANSPORT_ENV,
    check_addresses,
    configure_ros_transport,
    cyclonedds_config,
    fastdds_profile,
)
from dit4dit_ros.utils.waiting import wait_until


def _plain_shell_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
            "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def test_profile_whitelists_the_named_addresses_and_refuses_wildcards(tmp_path):
    xml = fastdds_profile(["127.0.0.1", "192.168.123.164"])
    assert "<address>127.0.0.1</address><address>192.168.123.164</address>" in xml
    assert "<type>SHM</type>" in xml and "<useBuiltinTransports>false</useBuiltinTransports>" in xml
    udp_only = fastdds_profile(["127.0.0.1"], shared_memory=False)  # nodes that move no images
    assert "SHM" not in udp_only and "shm_big" not in udp_only and "<address>127.0.0.1</address>" in udp_only
    for bad, why in (("0.0.0.0", "bind all interfaces"), ("eth0", "not an IPv4 address"), ("239.255.0.1", "a group")):
        with pytest.raises(ValueError, match=why):
            check_addresses([bad])
    assert "<AllowMulticast>false</AllowMulticast>" in cyclonedds_config("lo")
    assert "AllowMulticast" not in cyclonedds_config("eth0")  # the robot network keeps the SDK's multicast


def test_a_plain_shell_gets_the_stack_profile_and_children_inherit_the_deployment_choice(tmp_path):
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    path = configure_ros_transport(environ=env)
    assert env[PROFILE_ENV] == str(path) and "<address>127.0.0.1</address>" in path.read_text()
    assert env[TRANSPORT_ENV] == "127.0.0.1" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
    chosen = configure_ros_transport(["127.0.0.1", "10.0.0.2"], environ=env)  # dit4dit run, from the config
    child = dict(env)
    assert configure_ros_transport(environ=child) == chosen  # a node it starts keeps the deployment's choice
    monitor = configure_ros_transport(environ=dict(env), shared_memory=False)  # ... and adds its own SHM choice
    assert monitor != chosen and "<address>10.0.0.2</address>" in monitor.read_text()
    assert "SHM" not in monitor.read_text() and "SHM" in chosen.read_text()


def test_a_deliberate_profile_is_kept_and_a_missing_one_replaced(tmp_path):
    mine = tmp_path / "split_host.xml"
    mine.write_text("<dds/>")
    env = {PROFILE_ENV: str(mine), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_STATIC_PEERS": "10.0.0.9"}
    assert configure_ros_transport(["127.0.0.1"], environ=env) == mine  # the user's file wins over the config
    assert env[PROFILE_ENV] == str(mine) and env["ROS_STATIC_PEERS"] == "10.0.0.9"
    assert configure_ros_transport(environ=dict(env)) == mine  # and children keep it
    env = {PROFILE_ENV: str(tmp_path / "missing.xml")}
    path = configure_ros_transport(environ=env)
    assert path != tmp_path / "missing.xml" and env[PROFILE_ENV] == str(path) and path.is_file()


@pytest.mark.slow
@pytest.mark.ros
def test_bench_record_from_a_plain_shell_loses_no_frame():
    proc = subprocess.run(
        [sys.executable, "-m", "dit4dit_ros.cli", "bench", "record", "--duration", "10", "--command-rate", "500",
         "--json"], capture_output=True, text=True, timeout=240, env=_plain_shell_env())
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    print(f"plain shell, 640x480 30 Hz + 500 Hz state + 500 Hz commands for 10 s: sent {result['sent']}, "
          f"recorded {result['recorded']}")
    assert result["sent"]["/camera/ego/image_raw"] >= 290
    assert result["dropped"] == {t: 0 for t in result["sent"]}, result["dropped"]


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.sim
def test_graph_from_a_plain_shell_binds_no_ros_socket_to_all_interfaces(repo_root, tmp_path):
    from dit4dit_ros.bringup.bench_loop import child_nodes, node_processes
    from dit4dit_ros.bringup.profiles import write_parameter_yaml
    from dit4dit_ros.bringup.trial_graph import trial_parameters

    config = write_parameter_yaml(trial_parameters(Path(repo_root, "config", "g1_sim.yaml"), drop=("policy",)),
                                  tmp_path / "params.yaml")
    out_path = tmp_path / "run.out"
    with open(out_path, "wb") as out:
        run = subprocess.Popen([sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(config), "--no-status",
                                "--duration", "300", "--log-dir", str(tmp_path / "logs")],
                               stdout=out, stderr=subprocess.STDOUT, env=_plain_shell_env(), start_new_session=True)
    try:
        wait_until(lambda: run.poll() is not None or "graph up" in out_path.read_text(errors="replace"), 180, poll=0.2,
                   what="the graph up")
        assert run.poll() is None, out_path.read_text(errors="replace")[-3000:]
        nodes = child_nodes(run.pid)
        assert {"sim_robot", "g1_state", "monitor", "executor"} <= set(nodes)
        unitree_domain = int(dict(line.split("=", 1) for line in Path(f"/proc/{nodes['executor']}/environ")
                                  .read_bytes().decode().split("\0") if "=" in line)["DIT4DIT_UNITREE_DOMAIN"])
        cyclone_ports = cyclone_unicast_ports(unitree_domain, CYCLONE_MAX_PARTICIPANT_INDEX)
        # each node with its helper processes (the executor's real-time process, the simulator's physics process)
        by_pid = node_processes(nodes) | {run.pid: "dit4dit run"}
        assert len(by_pid) > len(nodes) + 1, "the executor's and the simulator's helper processes not found"
        sockets = bound_sockets(by_pid)
        print("\n".join(f"{by_pid[s.pid]:12s} {s}" for s in sockets))
        assert sockets
        ros_wildcards = [f"{by_pid[s.pid]}: {s}" for s in sockets if s.wildcard and s.port not in cyclone_ports]
        assert not ros_wildcards, ros_wildcards
        external = [f"{by_pid[s.pid]}: {s}" for s in sockets if not s.wildcard
                    and not (ipaddress.ip_address(s.address).is_loopback or ipaddress.ip_address(s.address).is_multicast)]
        assert not external, external
        # CycloneDDS (the Unitree SDK) binds its unicast receive sockets to INADDR_ANY whatever its configuration:
        # only the processes that talk to the robot have them, on the Unitree domain's ports.
        cyclone_owners = {by_pid[s.pid] for s in sockets if s.wildcard}
        assert cyclone_owners <= {"sim_robot", "g1_state", "executor"}, cyclone_owners
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            try:
                run.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(10)


_SERVICE_CALL = """
import time
from dit4dit_ros.utils.dds_transport import configure_ros_transport
configure_ros_transport()
import rclpy
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger
rclpy.init()
server, client_node = rclpy.create_node("server"), rclpy.create_node("client")
server.create_service(Trigger, "/t", lambda req, res: (setattr(res, "success", True), res)[1])
client = client_node.create_client(Trigger, "/t")
executor = MultiThreadedExecutor()
executor.add_node(server)
executor.add_node(client_node)
assert client.wait_for_service(timeout_sec=30)
future = client.call_async(Trigger.Request())
deadline = time.monotonic() + 30
while not future.done() and time.monotonic() < deadline:
    executor.spin_once(timeout_sec=0.1)
print("reply", future.done() and future.result().success)
"""


def test_services_wait_for_the_clients_reply_reader_and_fastdds_accepts_the_profile(tmp_path):
    """rmw_fastrtps drops a reply whose client reader the server has not matched within the "service" writer
    profile's max_blocking_time (FastDDS default 0.1 s; a lost recorder reply in ci3). The stack's profile sets it
    to SERVICE_REPLY_WAIT_S, and FastDDS loads the profile without an XML error."""
    import xml.etree.ElementTree as ET

    from dit4dit_ros.utils.dds_transport import SERVICE_REPLY_WAIT_S

    ns = {"f": "http://www.eprosima.com"}
    root = ET.fromstring(fastdds_profile())
    wait = root.find("f:profiles/f:data_writer[@profile_name='service']/f:qos/f:reliability/f:max_blocking_time/f:sec", ns)
    assert wait is not None and int(wait.text) == SERVICE_REPLY_WAIT_S >= 1
    env = {**_plain_shell_env(), "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", "0")}
    done = subprocess.run([sys.executable, "-c", _SERVICE_CALL], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "reply True" in done.stdout, done.stdout + done.stderr
    assert "XMLPARSER" not in done.stderr and "Error" not in done.stderr, done.stderr
