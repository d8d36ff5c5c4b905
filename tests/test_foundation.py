"""The package skeleton: CLI registry, joint table, bounded waiting, DDS isolation."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from dit4dit_ros import cli
from dit4dit_ros.g1 import joints
from dit4dit_ros.utils.dds_env import DdsIsolation, loopback_isolation_for
from dit4dit_ros.utils.waiting import WaitTimeout, wait_until


def test_joint_table_is_sdk_ordered_and_consistent():
    assert joints.NUM_JOINTS == 29
    assert [j.motor_index for j in joints.G1_JOINTS] == list(range(29))
    assert joints.JOINT_NAMES[0] == "left_hip_pitch_joint"
    assert joints.JOINT_NAMES[15] == "left_shoulder_pitch_joint"
    assert joints.JOINT_NAMES[28] == "right_wrist_yaw_joint"
    assert len(set(joints.JOINT_NAMES)) == 29
    lo, hi = joints.limits_array("position_min"), joints.limits_array("position_max")
    assert np.all(lo < hi)


def test_joint_table_matches_mjcf_model():
    """The limits in the table are those of the MuJoCo G1 model the simulator uses."""
    mujoco = pytest.importorskip("mujoco")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("wbc_mjlab")
    assert spec is not None, "wbc-mjlab (G1 model files) is not installed"
    xml = Path(spec.submodule_search_locations[0]) / "robots" / "g1" / "xmls" / "scene_g1.xml"
    model = mujoco.MjModel.from_xml_path(str(xml))
    for j in joints.G1_JOINTS:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j.name)
        assert jid >= 0, j.name
        np.testing.assert_allclose(model.jnt_range[jid], [j.position_min, j.position_max], atol=1e-4)
        np.testing.assert_allclose(model.jnt_actfrcrange[jid][1], j.torque_limit, atol=1e-6)


def test_unknown_joint_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown G1 joint name"):
        joints.joint_indices(["left_elbow_joint", "elbow"])


def test_wait_until_returns_value_and_times_out():
    t0 = time.monotonic()
    counter = iter(range(100))
    assert wait_until(lambda: next(counter) >= 3, timeout=1.0, poll=0.001)
    with pytest.raises(WaitTimeout, match="the impossible"):
        wait_until(lambda: False, timeout=0.05, poll=0.01, what="the impossible")
    assert time.monotonic() - t0 < 1.0


def test_dds_isolation_validates_ranges():
    iso = loopback_isolation_for(12345)
    assert iso.unitree_interface == "lo" and iso.ros_domain_id != iso.unitree_domain_id
    with pytest.raises(ValueError, match="ROS_DOMAIN_ID"):
        DdsIsolation(ros_domain_id=200, unitree_domain_id=1, unitree_interface="lo")


def test_cli_help_and_info_run():
    out = subprocess.run([sys.executable, "-m", "dit4dit_ros.cli", "info", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"torch"' in out.stdout
    parser = cli.build_parser(cli.build_registry())
    with pytest.raises(SystemExit):
        parser.parse_args(["no-such-command"])


def test_registry_rejects_duplicate_commands():
    reg = cli.CommandRegistry()
    reg.add_command("x", "h", lambda p: None, lambda a: 0)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add_command("x", "h", lambda p: None, lambda a: 0)


def test_claimed_loopback_slots_are_exclusive_across_processes():
    """A slot held by another live process is skipped; it is free again once that process is gone."""
    from dit4dit_ros.utils.dds_env import claim_loopback_isolation

    code = ("import sys, time; from dit4dit_ros.utils.dds_env import claim_loopback_isolation as c; "
            "print(c(seed=37).ros_domain_id, flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        mine = claim_loopback_isolation(seed=37)
        assert mine.ros_domain_id != held
        assert mine.unitree_interface == "lo"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    again = claim_loopback_isolation(seed=37)  # the holder exited: its slot is free for a new claim
    assert again.ros_domain_id == held
