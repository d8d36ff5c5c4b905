"""Split host on loopback: the robot host serves its clock, the policy host measures its offset to it, and the robot
host's executor refuses enable because of it.

Two `dit4dit run --only ...` processes stand for the two hosts, both with config/g1_real.yaml (the robot
host's copy shifts its clock by an injected 0.25 s through clock_server.test_clock_offset_s, and runs the
executor on loopback with `clock_offset_check: required`) and with the split-host environment of
config/split_host_env.sh: the shipped FastDDS profile with its robot-network interface replaced by `lo`,
ROS_STATIC_PEERS 127.0.0.1. The test process reads the measured offset from /dit4dit/clock_offset
(sensor_msgs/TimeReference) and the clock_offset node's diagnostic, plays the robot (FakeLowStateRobot, a
LowCmd reader) and asks the executor to enable with its token, as the operator would.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import TimeReference

from dit4dit_ros.bringup.processes import stop_run
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import LATCHED
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.clock_offset import ClockOffsetEstimator, RoundTrip
from dit4dit_ros.utils.waiting import wait_until

INJECTED = 0.25  # s: the robot host's clock runs this much ahead


# -- the estimator alone ---------------------------------------------------------------------------------
def _trip(theta: float, t0: float, d1: float, d2: float, server_time: float = 1e-4) -> RoundTrip:
    t1 = t0 + d1 + theta
    t2 = t1 + server_time
    return RoundTrip(t0, t1, t2, t2 - theta + d2)


def test_symmetric_delay_gives_the_exact_offset_and_asymmetry_stays_within_the_bound():
    exact = _trip(0.3, 100.0, 0.002, 0.002)
    assert exact.offset == pytest.approx(0.3, abs=1e-12) and exact.delay == pytest.approx(0.004)
    skewed = _trip(-1.5, 100.0, 0.010, 0.001)
    assert abs(skewed.offset - (-1.5)) <= skewed.delay / 2 + 1e-12


def test_estimator_picks_the_fastest_round_trip_of_its_window():
    est = ClockOffsetEstimator(window=4)
    for k, (d1, d2) in enumerate([(0.05, 0.001), (0.0005, 0.0005), (0.02, 0.03), (0.004, 0.0)]):
        est.add(_trip(0.1, 10.0 + k, d1, d2))
    e = est.estimate()
    assert e.offset == pytest.approx(0.1, abs=1e-9) and e.uncertainty == pytest.approx(0.0005 + 5e-5, rel=0.2)
    assert e.samples == 4 and not e.exceeds(0.2) and e.exceeds(0.05)
    for k in range(4):  # the window slides: the old best is forgotten
        est.add(_trip(0.1, 20.0 + k, 0.01, 0.0))
    assert est.estimate().uncertainty == pytest.approx(0.005 + 5e-5, rel=0.01)


def test_impossible_round_trips_are_refused():
    with pytest.raises(ValueError, match="before the request was sent"):
        RoundTrip(10.0, 5.0, 5.1, 9.0)
    with pytest.raises(ValueError, match="exceeds the round trip"):
        RoundTrip(10.0, 5.0, 6.0, 10.5)
    with pytest.raises(ValueError, match="finite"):
        RoundTrip(float("nan"), 1.0, 1.0, 1.0)


# -- two hosts on loopback -------------------------------------------------------------------------------
def _host_env(repo_root: str, tmp_path: Path) -> dict[str, str]:
    profile = Path(repo_root, "config", "fastdds_split_host.xml").read_text()
    assert "<interface>eth0</interface>" in profile
    local = tmp_path / "fastdds_split_host_lo.xml"
    local.write_text(profile.replace("<interface>eth0</interface>", "<interface>lo</interface>"))
    # What config/split_host_env.sh sets, for loopback: sourced by bash, exactly as a user does.
    out = subprocess.run(["bash", "-c", f"ROLE=policy PEER=127.0.0.1 . {repo_root}/config/split_host_env.sh && env -0"],
                         capture_output=True, check=True, env={**os.environ, "ROS_DOMAIN_ID": os.environ["ROS_DOMAIN_ID"]})
    env = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    assert env["ROS_STATIC_PEERS"] == "127.0.0.1" and env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_split_host.xml")
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(local)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # tests never leave loopback
    return env


@pytest.mark.slow
def test_policy_host_measures_the_injected_offset_of_the_robot_host(repo_root, tmp_path):
    data = yaml.safe_load(Path(repo_root, "config", "g1_real.yaml").read_text())
    data["clock_server"]["ros__parameters"]["test_clock_offset_s"] = INJECTED
    data["clock_offset"]["ros__parameters"].update(period_s=0.5, round_trips=6)
    token_file = tmp_path / "token" / "executor.token"
    data["executor"]["ros__parameters"].update(
        unitree_domain_id=-1, unitree_interface="lo", gravity_compensation=False, state_timeout=0.3,
        clock_offset_check="required", authority_token_file=str(token_file))
    robot_yaml = tmp_path / "robot.yaml"
    robot_yaml.write_text(yaml.safe_dump(data))
    env = _host_env(repo_root, tmp_path)
    from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
    from dit4dit_ros.safety.wire import RobotWire

    robot, wire = FakeLowStateRobot(rate_hz=500.0, max_seconds=120.0), RobotWire()
    robot.resume()
    hosts = []
    for name, only in (("robot", ["clock_server", "executor"]), ("policy", ["clock_offset"])):
        log = open(tmp_path / f"{name}.out", "w")
        hosts.append(subprocess.Popen(
            [sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(robot_yaml), "--only", *only,
             "--no-status", "--duration", "90", "--log-dir", str(tmp_path / name)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        with RosHarness() as harness:
            offsets = harness.collect(TimeReference, "/dit4dit/clock_offset", LATCHED)
            diagnostics = harness.collect(DiagnosticArray, "/diagnostics")
            latched_status = harness.collect(DiagnosticStatus, "/dit4dit/clock_offset/status", LATCHED)
            wait_until(lambda: len(offsets) >= 2 or any(h.poll() is not None for h in hosts), 90.0,
                       what="two offset measurements")
            assert all(h.poll() is None for h in hosts), [(tmp_path / f"{n}.out").read_text() for n in ("robot", "policy")]
            msg = offsets.snapshot()[-1][1]
            measured = (msg.time_ref.sec + msg.time_ref.nanosec * 1e-9) - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
            assert msg.source == "/dit4dit/clock/time"
            assert measured == pytest.approx(INJECTED, abs=0.01), measured

            def warn_status():
                for _, m in reversed(diagnostics.snapshot()):
                    for s in m.status:
                        if s.name.startswith("clock_offset") and diag.status_level(s) == diag.WARN:
                            return s
                return None

            status = wait_until(warn_status, 10.0, what="clock_offset WARN diagnostic")
            values = diag.status_values(status)
            assert "exceeds max_offset_s 0.05" in status.message
            assert abs(float(values["offset_s"]) - INJECTED) <= float(values["uncertainty_s"]) + 1e-3
            wait_until(lambda: len(latched_status) >= 1, 10.0, what="the latched offset status")
            latched = diag.status_values(latched_status.snapshot()[-1][1])
            assert abs(float(latched["offset_s"]) - INJECTED) < 0.01 and float(latched["uncertainty_s"]) >= 0.0

            # the robot host's executor: the operator's enable is refused for the clock offset
            from diagnostic_msgs.srv import AddDiagnostics

            client = harness.probe.create_client(AddDiagnostics, "/executor/enable_with_token")
            assert client.wait_for_service(timeout_sec=60.0), (tmp_path / "robot.out").read_text()[-3000:]
            request = AddDiagnostics.Request(load_namespace=token_file.read_text().strip())

            def enable_reply():
                future = client.call_async(request)
                wait_until(future.done, 10.0, what="a reply from /executor/enable_with_token")
                reply = future.result()
                # past the robot-state check, and the executor has the latched offset report (this test's harness
                # may get it before the executor's subscription does: refused with "none received" until then)
                waiting = "LowState" in reply.message or "(none received)" in reply.message
                return None if waiting else reply

            reply = wait_until(enable_reply, 30.0, poll=0.2, what="an enable reply past the state and offset checks")
            assert not reply.success and "clock offset between the policy host and the robot is +2" in reply.message
            assert "beyond the chunk-age tolerance 50 ms" in reply.message, reply.message
            assert wire.summary().commands == 0  # nothing reached the robot
    finally:
        for host in hosts:
            stop_run(host, grace=20.0)
        wire.close()
        robot.close()


def test_cyclonedds_accepts_the_robot_config_and_carries_lowstate_with_it(repo_root, tmp_path, dds_isolation):
    """The shipped CycloneDDS file (interface replaced by `lo`) creates a working domain: a LowState crosses it."""
    text = Path(repo_root, "config", "cyclonedds_g1_robot.xml").read_text()
    assert 'name="eth0"' in text
    config = tmp_path / "cyclonedds_lo.xml"
    config.write_text(text.replace('name="eth0"', 'name="lo"'))
    script = f"""
import time
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_
from dit4dit_ros.g1.lowstate import new_lowstate
p = DomainParticipant({dds_isolation.unitree_domain_id})
topic = Topic(p, "rt/lowstate_config_check", LowState_)
w, r = DataWriter(p, topic), DataReader(p, topic)
msg = new_lowstate(); msg.tick = 4242
for _ in range(100):
    w.write(msg); time.sleep(0.02)
    got = r.take()
    if got: print("tick", got[0].tick); break
"""
    env = {**os.environ, "CYCLONEDDS_URI": f"file://{config}"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert "tick 4242" in proc.stdout, proc.stderr


def test_server_reply_text_is_checked():
    from dit4dit_ros.utils.clock_offset import format_server_times, parse_server_times

    assert parse_server_times(format_server_times(12, 34)) == (12, 34)
    for bad in ("", "12", "12 x", "1.5 2", "1 2 3"):
        with pytest.raises(ValueError, match="two integers"):
            parse_server_times(bad)


def test_clock_offset_node_without_a_server_reports_an_error():
    from rclpy.parameter import Parameter

    from dit4dit_ros.nodes.clock_offset_node import ClockOffsetNode

    with RosHarness() as harness:
        node = harness.make_node(ClockOffsetNode, parameter_overrides=[
            Parameter("service_name", value="/dit4dit/test/no_such_clock"), Parameter("period_s", value=0.1)])
        status = wait_until(lambda: node.last_error and node.diagnostic(), 10.0, what="the missing-server error")
        assert diag.status_level(status) == diag.ERROR and "no clock server on /dit4dit/test/no_such_clock" in status.message
        assert node.estimate is None


def test_run_only_names_unknown_nodes_clearly(repo_root):
    proc = subprocess.run([sys.executable, "-m", "dit4dit_ros.cli", "run", "--config",
                           str(Path(repo_root, "config", "g1_real.yaml")), "--only", "g1_state", "polcy"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--only names unknown node(s) ['polcy']" in proc.stderr
