"""Unitree interop pieces without ROS: LowState gate (CRC policy, robot variant), variants, wireless remote."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from dit4dit_ros.g1.joints import JOINT_NAMES, NUM_JOINTS
from dit4dit_ros.g1.lowstate import decode_lowstate_cdr, encode_lowstate_cdr
from dit4dit_ros.g1.lowstate_gate import CrcPolicy, DropReason, LowStateGate
from dit4dit_ros.g1.remote import (
    BUTTONS,
    DEFAULT_REMOTE_BINDINGS,
    RemoteActionMapper,
    decode_remote,
    encode_remote,
    parse_bindings,
)
from dit4dit_ros.g1.variants import (
    VARIANT_BY_NAME,
    RobotVariantError,
    check_robot_variant,
    variant_for_mode_machine,
)


def _payload(mode_machine: int = 5, with_crc: bool = True, remote: bytes | None = None) -> bytes:
    q = np.linspace(-0.5, 0.5, NUM_JOINTS)
    return encode_lowstate_cdr(q, -q, 2 * q, np.array([1.0, 0, 0, 0]), np.zeros(3), np.array([0, 0, 9.81]),
                               tick=7, mode_machine=mode_machine, wireless_remote=remote, with_crc=with_crc)


def _sample(**kwargs):
    return decode_lowstate_cdr(_payload(**kwargs), receive_time=1.0)


def _corrupt(payload: bytes) -> bytes:
    broken = bytearray(payload)
    broken[100] ^= 0x40  # a bit inside the IMU/motor block: the crc no longer matches
    return bytes(broken)


# -- LowState fields the gate and the remote need --------------------------------------------------------
def test_decoded_sample_carries_the_received_crc_and_the_remote_bytes():
    remote = encode_remote({"A", "L2"}, lx=0.5)
    s = _sample(remote=remote)
    assert s.crc_ok and s.crc != 0 and s.wireless_remote == remote
    zero = _sample(with_crc=False)
    assert zero.crc == 0 and not zero.crc_ok and zero.wireless_remote == bytes(40)


# -- CRC policy ------------------------------------------------------------------------------------------
def test_verify_drops_crc_zero_and_corruption_with_separate_reasons_and_counts():
    gate = LowStateGate(CrcPolicy.VERIFY)
    assert gate.check(_sample()) is None
    bad = decode_lowstate_cdr(_corrupt(_payload()), 1.0)
    assert not bad.crc_ok and bad.crc != 0
    assert [gate.check(_sample(with_crc=False)) for _ in range(3)] == [DropReason.CRC_ZERO] * 3
    assert gate.check(bad) is DropReason.CRC_MISMATCH
    c = gate.counts
    assert (c.received, c.accepted, c.crc_zero, c.crc_mismatch, c.dropped) == (5, 1, 3, 1, 4)
    text = gate.explain()
    assert text.startswith("4 of 5 LowState dropped") and "3 with crc 0" in text and "accept_zero" in text
    assert "1 with a wrong CRC" in text


def test_accept_zero_takes_crc_zero_but_still_drops_corruption():
    gate = LowStateGate("accept_zero")
    assert gate.check(_sample(with_crc=False)) is None
    assert gate.check(decode_lowstate_cdr(_corrupt(_payload()), 1.0)) is DropReason.CRC_MISMATCH
    assert gate.counts.accepted_crc_zero == 1 and gate.counts.crc_mismatch == 1


def test_off_accepts_everything_but_counts_what_it_did_not_verify():
    gate = LowStateGate("off")
    assert gate.check(decode_lowstate_cdr(_corrupt(_payload()), 1.0)) is None
    assert gate.check(_sample(with_crc=False)) is None
    assert gate.counts.accepted == 2 and gate.counts.accepted_unchecked == 2 and gate.explain() == ""


def test_all_dropped_is_said_as_all():
    gate = LowStateGate()
    for _ in range(4):
        gate.check(_sample(with_crc=False))
    assert gate.explain().startswith("all 4 LowState dropped")


def test_bad_policy_name_is_a_clear_error():
    with pytest.raises(ValueError, match="CRC policy must be one of .*'verify', 'accept_zero', 'off'"):
        LowStateGate("verfy")


# -- robot variants --------------------------------------------------------------------------------------
def test_variant_tables_follow_unitree_slot_numbering():
    g29 = VARIANT_BY_NAME["g1_29dof"]
    assert g29.joint_names == JOINT_NAMES and g29.supported
    g23 = VARIANT_BY_NAME["g1_23dof"]
    assert len(g23.motor_slots) == 23 and set(g23.missing_joints) == {
        "waist_roll_joint", "waist_pitch_joint", "left_wrist_pitch_joint", "left_wrist_yaw_joint",
        "right_wrist_pitch_joint", "right_wrist_yaw_joint"}
    assert len(VARIANT_BY_NAME["g1_29dof_lock_waist"].motor_slots) == 27
    values = [m for v in VARIANT_BY_NAME.values() for m in v.mode_machines]
    assert len(values) == len(set(values)), "a mode_machine value must identify one variant"
    assert variant_for_mode_machine(5) is g29 and variant_for_mode_machine(4) is g23
    assert variant_for_mode_machine(0) is None


@pytest.mark.parametrize("mode_machine", [5, 11, 13, 15])
def test_29dof_values_are_accepted(mode_machine):
    assert check_robot_variant(mode_machine).name == "g1_29dof"


@pytest.mark.parametrize("mode_machine,expected", [
    (4, "G1 23-DoF"), (10, "G1 23-DoF"), (6, "locked waist"), (9, "dual-arm"),
    (0, "expected_mode_machine: 0 explicitly"), (77, "unknown robot type")])
def test_other_variants_and_unknown_values_are_refused_with_the_reason(mode_machine, expected):
    with pytest.raises(RobotVariantError, match=expected):
        check_robot_variant(mode_machine)


def test_an_explicit_expected_value_must_match_exactly():
    assert check_robot_variant(0, expected_mode_machine=0).name == "g1_29dof"  # Unitree's simulator
    with pytest.raises(RobotVariantError, match="configured expected_mode_machine is 0"):
        check_robot_variant(5, expected_mode_machine=0)


def test_unsupported_or_unknown_variant_names_are_configuration_errors():
    with pytest.raises(ValueError, match="not supported by this stack.*no motor for"):
        check_robot_variant(4, expected="g1_23dof")
    with pytest.raises(ValueError, match="unknown robot variant"):
        LowStateGate(variant="g1_31dof")


def test_gate_refuses_every_sample_of_another_variant_and_says_which():
    gate = LowStateGate()
    assert [gate.check(_sample(mode_machine=4)) for _ in range(3)] == [DropReason.VARIANT] * 3
    assert gate.counts.variant == 3 and gate.counts.accepted == 0
    assert "G1 23-DoF" in gate.explain() and gate.last_mode_machine == 4


def test_gate_checks_crc_before_trusting_mode_machine():
    gate = LowStateGate()
    assert gate.check(_sample(mode_machine=4, with_crc=False)) is DropReason.CRC_ZERO
    gate = LowStateGate("accept_zero", expected_mode_machine=0)
    assert gate.check(_sample(mode_machine=0, with_crc=False)) is None
    assert gate.check(_sample(mode_machine=5, with_crc=False)) is DropReason.VARIANT


# -- wireless remote -------------------------------------------------------------------------------------
def test_remote_layout_matches_unitrees_struct():
    raw = encode_remote({"R1", "A", "left"}, lx=0.25, rx=-0.5, ry=1.0, l2=0.75, ly=-1.0)
    assert len(raw) == 40
    head, bits = raw[:2], struct.unpack_from("<H", raw, 2)[0]
    assert head == b"\x00\x00" and bits == (1 << 0) | (1 << 8) | (1 << 15)  # R1 bit 0, A bit 8, left bit 15
    assert struct.unpack_from("<5f", raw, 4) == (0.25, -0.5, 1.0, 0.75, -1.0)  # lx rx ry L2 ly
    state = decode_remote(raw)
    assert state.buttons == {"R1", "A", "left"}
    assert (state.lx, state.ly, state.rx, state.ry, state.l2) == (0.25, -1.0, -0.5, 1.0, 0.75)


@pytest.mark.parametrize("button", BUTTONS)
def test_every_button_decodes_alone(button):
    assert decode_remote(encode_remote({button})).buttons == {button}


def test_unknown_button_cannot_be_encoded():
    with pytest.raises(ValueError, match="unknown remote button 'Z'"):
        encode_remote({"Z"})


def test_remote_garbage_is_refused():
    with pytest.raises(ValueError, match="40 bytes"):
        decode_remote(bytes(39))
    raw = bytearray(encode_remote())
    struct.pack_into("<f", raw, 4, math.nan)
    with pytest.raises(ValueError, match="axis lx"):
        decode_remote(bytes(raw))
    struct.pack_into("<f", raw, 4, 3.5)
    with pytest.raises(ValueError, match="outside"):
        decode_remote(bytes(raw))


def test_remote_in_lowstate_reaches_the_mapper():
    mapper = RemoteActionMapper()
    sample = _sample(remote=encode_remote({"B"}))
    assert mapper.update(sample.wireless_remote).fired == ("estop",)


def test_actions_fire_once_on_the_edge_of_their_combination():
    mapper = RemoteActionMapper(DEFAULT_REMOTE_BINDINGS)
    idle = encode_remote()
    assert mapper.update(idle).fired == ()
    assert mapper.update(encode_remote({"R2"})).fired == ()  # half a combination does nothing
    assert mapper.update(encode_remote({"R2", "A"})).fired == ("enable",)
    events = mapper.update(encode_remote({"R2", "A"}))
    assert events.fired == () and events.held == {"enable"}  # held, not repeated
    assert mapper.update(idle).fired == ()
    assert mapper.update(encode_remote({"A", "R2"})).fired == ("enable",)


def test_estop_wins_and_blocks_enable_while_held():
    mapper = RemoteActionMapper()
    assert mapper.update(encode_remote({"B", "R2", "A"})).fired == ("estop",)
    events = mapper.update(encode_remote({"R2", "A"}))  # e-stop released, enable still held: no enable
    assert events.fired == () and events.held == {"enable"}
    assert mapper.update(encode_remote({"L2", "B"})).fired == ("estop",)  # Unitree's damping combo contains B


def test_garbled_report_is_counted_and_releases_everything():
    mapper = RemoteActionMapper()
    mapper.update(encode_remote({"B"}))
    assert mapper.update(bytes(12)).fired == () and mapper.invalid_reports == 1
    assert mapper.update(encode_remote({"B"})).fired == ("estop",)


def test_bindings_are_configurable_and_checked():
    mapper = RemoteActionMapper(["estop=L1+R1", "enable=start"])
    assert mapper.update(encode_remote({"L1", "R1"})).fired == ("estop",)
    assert mapper.update(encode_remote({"start"})).fired == ("enable",)
    with pytest.raises(ValueError, match="unknown button"):
        parse_bindings(["estop=Q"])
    with pytest.raises(ValueError, match="unknown action"):
        parse_bindings(["explode=A", "estop=B"])
    with pytest.raises(ValueError, match="must look like"):
        parse_bindings(["estop"])
    with pytest.raises(ValueError, match="no 'estop'"):
        parse_bindings(["enable=A"])
    with pytest.raises(ValueError, match="same buttons"):
        parse_bindings(["estop=B", "enable=B"])
