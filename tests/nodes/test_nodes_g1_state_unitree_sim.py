"""g1_state against the project's simulator behaving like Unitree's own (unitree_mujoco).

`dit4dit sim-robot --no-ros --unitree-compat` publishes rt/lowstate at 200 Hz with crc 0 and mode_machine 0
and has no rt/arm_sdk reader, as Unitree's Python simulator does. Before the LowState gate, g1_state dropped
every such message and said only "waiting for rt/lowstate". Now:
- the default CRC policy (verify) still drops them, and /diagnostics says why, with counts;
- lowstate_crc_policy accept_zero + expected_mode_machine 0 publishes /joint_states;
- accept_zero alone refuses mode_machine 0 with the reason (the variant cannot be verified);
- nothing matches an rt/arm_sdk writer (what the executor will check before enable).
Three g1_state nodes run side by side in this process on separate output topics.
"""
from __future__ import annotations

import time

import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.g1_state_node import G1StateNode
from dit4dit_ros.nodes.qos import STATE
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.sim.process import SimRobotProcess
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]


def _node(harness, prefix: str, **params):
    overrides = [Parameter("joint_states_topic", value=f"/{prefix}/joint_states"),
                 Parameter("imu_topic", value=f"/{prefix}/imu"),
                 Parameter("stale_timeout_s", value=1.0), Parameter("diagnostics_period_s", value=0.25)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return harness.make_node(G1StateNode, parameter_overrides=overrides)


@pytest.fixture(scope="module")
def unitree_like_sim():
    sim = SimRobotProcess(["--no-ros", "--unitree-compat", "--duration", "120"]).start()
    harness = RosHarness()
    yield sim, harness
    harness.shutdown()
    sim.stop()


def test_g1_state_explains_accepts_or_refuses_unitrees_simulator(unitree_like_sim):
    sim, harness = unitree_like_sim
    verify = _node(harness, "verify")
    accept = _node(harness, "accept", lowstate_crc_policy="accept_zero", expected_mode_machine=0)
    unverified_variant = _node(harness, "variant", lowstate_crc_policy="accept_zero")
    joints = harness.collect(JointState, "/accept/joint_states", STATE)
    verify_joints = harness.collect(JointState, "/verify/joint_states", STATE)

    wait_until(lambda: len(joints) >= 20 or not sim.alive, 60.0, what="joint_states from the Unitree-like sim")
    assert sim.alive, sim.log()
    msg = joints.snapshot()[-1][1]
    assert list(msg.name) == list(JOINT_NAMES)

    # verify: everything dropped for crc 0, said in the diagnostic with counts
    wait_until(lambda: verify.gate.counts.crc_zero >= 200, 10.0, what="crc-0 drops counted")
    status = verify.diagnostic()
    values = diag.status_values(status)
    assert diag.status_level(status) == diag.ERROR
    assert status.message.startswith("no valid LowState: all ") and "with crc 0" in status.message
    assert "accept_zero" in status.message
    assert int(values["dropped_crc_zero"]) >= 200 and values["received_valid"] == "0"
    assert len(verify_joints) == 0

    # accept_zero without expected_mode_machine: mode_machine 0 cannot be verified -> refused, said why
    wait_until(lambda: unverified_variant.gate.counts.variant >= 50, 10.0, what="variant refusals counted")
    status = unverified_variant.diagnostic()
    assert diag.status_level(status) == diag.ERROR and "expected_mode_machine: 0" in status.message
    assert unverified_variant.received == 0

    # the accepting node sees Unitree's 200 Hz state stream
    start, before = time.monotonic(), accept.gate.counts.accepted
    wait_until(lambda: time.monotonic() - start >= 2.0, 5.0, what="2 s of LowState")
    rate = (accept.gate.counts.accepted - before) / (time.monotonic() - start)
    assert 120.0 < rate < 230.0, f"LowState at {rate:.0f} Hz from a simulator configured for 200 Hz"
    values = diag.status_values(accept.diagnostic())
    assert int(values["accepted_crc_zero"]) == accept.gate.counts.accepted > 0 and values["mode_machine"] == "0"


def test_nobody_reads_arm_sdk_on_unitrees_simulator_but_lowcmd_is_read(unitree_like_sim):
    from dit4dit_ros.g1.dds import LowCmdWriter
    from dit4dit_ros.g1.lowcmd import ControlPath

    sim, _ = unitree_like_sim
    lowcmd, arm_sdk = LowCmdWriter(ControlPath.LOWCMD), LowCmdWriter(ControlPath.ARM_SDK)
    try:
        wait_until(lambda: lowcmd.matched_readers() >= 1 or not sim.alive, 60.0, what="the sim's rt/lowcmd reader")
        assert arm_sdk.matched_readers() == 0  # the default control path has nobody on the other end
    finally:
        lowcmd.close()
        arm_sdk.close()
