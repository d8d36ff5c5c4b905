"""Dex3-1 HandCmd_/HandState_ codecs against the Unitree SDK's own IDL types, and the gripper synergy."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.g1.hand_command import (GRIPPER_CLOSED, GRIPPER_OPEN, HandCommand, gripper_to_joints,
                                         joints_to_gripper)
from dit4dit_ros.g1.hand_wire import (decode_handcmd_cdr, decode_handstate_cdr, encode_handcmd_cdr,
                                      encode_handstate_cdr, hand_topics, motor_mode)
from dit4dit_ros.g1.hands import HandSide, hand_limits

dds = pytest.importorskip("unitree_sdk2py.idl.unitree_hg.msg.dds_")


def _f32(rng: np.random.Generator, n: int = 7, positive: bool = False) -> np.ndarray:
    v = rng.normal(size=n).astype(np.float32).astype(np.float64)
    return np.abs(v) if positive else v


def _sdk_handcmd(cmd: HandCommand, modes: list[int]):
    return dds.HandCmd_(motor_cmd=[dds.MotorCmd_(mode=modes[i], q=cmd.q[i], dq=cmd.dq[i], tau=cmd.tau[i], kp=cmd.kp[i],
                                                 kd=cmd.kd[i], reserve=0) for i in range(7)], reserve=[0, 0, 0, 0])


def test_handcmd_bytes_equal_the_sdk_serializer_and_round_trip() -> None:
    rng = np.random.default_rng(1)
    cmd = HandCommand(_f32(rng), _f32(rng), _f32(rng), _f32(rng, positive=True), _f32(rng, positive=True))
    sdk_bytes = _sdk_handcmd(cmd, [motor_mode(i) for i in range(7)]).serialize()
    assert encode_handcmd_cdr(cmd) == sdk_bytes
    decoded, enabled = decode_handcmd_cdr(sdk_bytes)
    assert enabled.all()
    for name in ("q", "dq", "tau", "kp", "kd"):
        np.testing.assert_array_equal(getattr(decoded, name), getattr(cmd, name))


def test_disabled_motor_applies_no_torque_and_malformed_bytes_are_refused() -> None:
    rng = np.random.default_rng(2)
    cmd = HandCommand.position(_f32(rng))
    modes = [motor_mode(i, enabled=(i != 3)) for i in range(7)]
    decoded, enabled = decode_handcmd_cdr(_sdk_handcmd(cmd, modes).serialize())
    assert enabled.tolist() == [True, True, True, False, True, True, True]
    assert decoded.kp[3] == 0 and decoded.kd[3] == 0 and decoded.kp[2] > 0
    good = encode_handcmd_cdr(cmd)
    with pytest.raises(ValueError, match="bytes"):
        decode_handcmd_cdr(good[:-4])
    with pytest.raises(ValueError, match="little-endian"):
        decode_handcmd_cdr(b"\x00\x00" + good[2:])
    six = dds.HandCmd_(motor_cmd=[dds.MotorCmd_(mode=0, q=0.0, dq=0.0, tau=0.0, kp=0.0, kd=0.0, reserve=0)] * 6,
                       reserve=[0, 0, 0, 0]).serialize()
    with pytest.raises(ValueError, match="7 motors"):
        decode_handcmd_cdr(six)


def test_handstate_bytes_equal_the_sdk_serializer_and_decode() -> None:
    rng = np.random.default_rng(3)
    q, dq, tau = _f32(rng), _f32(rng), _f32(rng)
    pressure = rng.normal(size=(3, 12)).astype(np.float32).astype(np.float64)
    sdk = dds.HandState_(
        motor_state=[dds.MotorState_(mode=motor_mode(i), q=q[i], dq=dq[i], ddq=0.0, tau_est=tau[i], temperature=[0, 0],
                                     vol=0.0, sensor=[0, 0], motorstate=0, reserve=[0, 0, 0, 0]) for i in range(7)],
        press_sensor_state=[dds.PressSensorState_(pressure=list(r), temperature=[0.0] * 12, lost=0, reserve=0)
                            for r in pressure],
        imu_state=dds.IMUState_(quaternion=[1.0, 0.0, 0.0, 0.0], gyroscope=[0.0] * 3, accelerometer=[0.0] * 3,
                                rpy=[0.0] * 3, temperature=0),
        power_v=24.0, power_a=0.0, system_v=0.0, device_v=0.0, error=[0, 0], reserve=[0, 0])
    sdk_bytes = sdk.serialize()
    assert encode_handstate_cdr(q, dq, tau, pressure=pressure, power_v=24.0) == sdk_bytes
    sample = decode_handstate_cdr(sdk_bytes)
    np.testing.assert_array_equal(sample.q, q)
    np.testing.assert_array_equal(sample.tau, tau)
    np.testing.assert_array_equal(sample.pressure, pressure)
    with pytest.raises(ValueError, match="bytes"):
        decode_handstate_cdr(sdk_bytes[:-8])


def test_topics_follow_unitree_names() -> None:
    assert hand_topics("left") == ("rt/dex3/left/cmd", "rt/dex3/left/state")
    assert hand_topics(HandSide.RIGHT) == ("rt/dex3/right/cmd", "rt/dex3/right/state")


@pytest.mark.parametrize("side", list(HandSide))
def test_gripper_synergy_spans_open_to_closed_within_limits(side: HandSide) -> None:
    lo, hi = hand_limits(side, "position_min"), hand_limits(side, "position_max")
    np.testing.assert_allclose(gripper_to_joints(side, 0.0), GRIPPER_OPEN[side])
    np.testing.assert_allclose(gripper_to_joints(side, 1.0), GRIPPER_CLOSED[side])
    for value in np.linspace(0.0, 1.0, 11):
        q = gripper_to_joints(side, value)
        assert np.all(q >= lo) and np.all(q <= hi)
        assert joints_to_gripper(side, q) == pytest.approx(value, abs=1e-9)
    # the fingers flex further as the gripper closes (monotone in every finger joint)
    flex = np.abs(np.stack([gripper_to_joints(side, v) for v in np.linspace(0, 1, 5)]))[:, 3:]
    assert np.all(np.diff(flex, axis=0) > 0)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_gripper_outside_range_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="left_gripper must be a finite value in \\[0, 1\\]"):
        gripper_to_joints("left", value)


def test_hand_command_validation() -> None:
    with pytest.raises(ValueError, match="HandCommand.q must have shape"):
        HandCommand.position(np.zeros(6))
    bad = HandCommand(np.full(7, np.nan), np.zeros(7), np.zeros(7), -np.ones(7), np.zeros(7))
    assert any("non-finite" in p for p in bad.problems()) and any("negative" in p for p in bad.problems())
