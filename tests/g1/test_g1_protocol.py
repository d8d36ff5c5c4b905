"""G1 low-level protocol: CRC against the SDK's own, LowCmd building for both paths, LowState parsing."""
from __future__ import annotations

import random

import numpy as np
import pytest

from dit4dit_ros.g1 import crc as g1crc
from dit4dit_ros.g1.joints import NUM_JOINTS, limits_array
from dit4dit_ros.g1.lowcmd import (
    ARM_SDK_JOINT_INDICES,
    ARM_SDK_WEIGHT_SLOT,
    ControlPath,
    MotorCommand,
    build_lowcmd,
    damping_lowcmd,
    parse_lowcmd,
)
from dit4dit_ros.g1.lowstate import fill_lowstate, new_lowstate, parse_lowstate

sdk_crc = pytest.importorskip("unitree_sdk2py.utils.crc")
from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowCmd_, unitree_hg_msg_dds__LowState_  # noqa: E402


def _random_lowcmd(rng: random.Random):
    msg = unitree_hg_msg_dds__LowCmd_()
    msg.mode_pr = rng.randint(0, 1)
    msg.mode_machine = rng.randint(0, 255)
    for m in msg.motor_cmd:
        m.mode = rng.randint(0, 255)
        m.q, m.dq, m.tau, m.kp, m.kd = (rng.uniform(-1e3, 1e3) for _ in range(5))
        m.reserve = rng.getrandbits(32)
    msg.reserve = [rng.getrandbits(32) for _ in range(4)]
    return msg


def _random_lowstate(rng: random.Random):
    msg = unitree_hg_msg_dds__LowState_()
    msg.version = [rng.getrandbits(32), rng.getrandbits(32)]
    msg.mode_pr, msg.mode_machine, msg.tick = rng.randint(0, 1), rng.randint(0, 255), rng.getrandbits(32)
    imu = msg.imu_state
    imu.quaternion = [rng.uniform(-1, 1) for _ in range(4)]
    imu.gyroscope, imu.accelerometer, imu.rpy = ([rng.uniform(-50, 50) for _ in range(3)] for _ in range(3))
    imu.temperature = rng.randint(-32768, 32767)
    for m in msg.motor_state:
        m.mode = rng.randint(0, 255)
        m.q, m.dq, m.ddq, m.tau_est, m.vol = (rng.uniform(-1e3, 1e3) for _ in range(5))
        m.temperature = [rng.randint(-32768, 32767) for _ in range(2)]
        m.sensor = [rng.getrandbits(32) for _ in range(2)]
        m.motorstate = rng.getrandbits(32)
        m.reserve = [rng.getrandbits(32) for _ in range(4)]
    msg.wireless_remote = [rng.randint(0, 255) for _ in range(40)]
    msg.reserve = [rng.getrandbits(32) for _ in range(4)]
    return msg


def test_crc_matches_sdk_on_random_lowcmd_and_lowstate():
    rng = random.Random(1234)
    sdk = sdk_crc.CRC()
    for _ in range(100):
        cmd = _random_lowcmd(rng)
        assert g1crc.lowcmd_crc(cmd) == sdk.Crc(cmd)
        state = _random_lowstate(rng)
        assert g1crc.lowstate_crc(state) == sdk.Crc(state)


def test_fast_crc_equals_bitwise_definition():
    rng = random.Random(7)
    for n_words in (1, 2, 17, 251):
        data = bytes(rng.getrandbits(8) for _ in range(4 * n_words))
        assert g1crc.crc32_mpeg2_words(data) == g1crc.crc32_mpeg2_words_bitwise(data)
    with pytest.raises(ValueError, match="whole 32-bit words"):
        g1crc.crc32_mpeg2_words(b"123")


def test_crc_rejects_wrong_message_type():
    with pytest.raises(TypeError, match="LowCmd_"):
        g1crc.lowcmd_crc(unitree_hg_msg_dds__LowState_())


def _command(seed: int = 0) -> MotorCommand:
    rng = np.random.default_rng(seed)
    lo, hi = limits_array("position_min"), limits_array("position_max")
    return MotorCommand(
        q=rng.uniform(lo, hi), dq=rng.normal(size=NUM_JOINTS), kp=limits_array("kp"), kd=limits_array("kd"),
        tau=rng.normal(size=NUM_JOINTS),
    )


def test_build_lowcmd_full_path_round_trips_and_carries_mode_machine():
    cmd = _command()
    msg = build_lowcmd(cmd, mode_machine=5, mode_pr=0, path=ControlPath.LOWCMD)
    assert msg.crc == sdk_crc.CRC().Crc(msg)
    assert msg.mode_machine == 5 and msg.mode_pr == 0
    assert [m.mode for m in msg.motor_cmd[:NUM_JOINTS]] == [1] * NUM_JOINTS
    assert all(m.mode == 0 and m.kp == 0 for m in msg.motor_cmd[NUM_JOINTS:])
    back = parse_lowcmd(msg)
    assert back.crc_ok and back.problems() == []
    np.testing.assert_allclose(back.q, cmd.q, atol=1e-6)  # float32 on the wire
    np.testing.assert_allclose(back.kp, cmd.kp)
    np.testing.assert_allclose(back.tau, cmd.tau, atol=1e-6)


def test_build_lowcmd_arm_sdk_path_writes_weight_slot_and_leaves_legs_alone():
    msg = build_lowcmd(_command(1), mode_machine=5, path="rt/arm_sdk", arm_sdk_weight=0.25)
    assert msg.motor_cmd[ARM_SDK_WEIGHT_SLOT].q == pytest.approx(0.25)
    assert msg.crc == sdk_crc.CRC().Crc(msg)
    assert all(msg.motor_cmd[i].mode == 0 and msg.motor_cmd[i].kp == 0 for i in range(12))
    assert all(msg.motor_cmd[i].mode == 1 for i in ARM_SDK_JOINT_INDICES)
    assert parse_lowcmd(msg).arm_sdk_weight == pytest.approx(0.25)


def test_damping_lowcmd_has_zero_stiffness_and_positive_damping():
    msg = damping_lowcmd(mode_machine=3)
    motors = msg.motor_cmd[:NUM_JOINTS]
    assert all(m.kp == 0 and m.dq == 0 and m.tau == 0 and m.kd > 0 for m in motors)
    assert parse_lowcmd(msg).crc_ok
    with pytest.raises(ValueError, match="kd must be > 0"):
        damping_lowcmd(mode_machine=3, kd=0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode_machine": 256}, "mode_machine"),
        ({"mode_machine": 1, "mode_pr": 2}, "mode_pr"),
        ({"mode_machine": 1, "path": "rt/arm_sdk", "arm_sdk_weight": 1.5}, "arm_sdk_weight"),
        ({"mode_machine": 1, "arm_sdk_weight": 0.5}, "ARM_SDK only"),
        ({"mode_machine": 1, "path": "rt/nope"}, "rt/nope"),
    ],
)
def test_build_lowcmd_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_lowcmd(_command(), **kwargs)


def test_motor_command_validates_shape_finiteness_and_gains():
    with pytest.raises(ValueError, match=r"MotorCommand.q must have shape \(29,\)"):
        MotorCommand.hold(np.zeros(28))
    with pytest.raises(ValueError, match="non-finite"):
        MotorCommand.hold(np.full(NUM_JOINTS, np.nan))
    with pytest.raises(ValueError, match="kp must be >= 0"):
        MotorCommand.hold(np.zeros(NUM_JOINTS), kp=-np.ones(NUM_JOINTS))


def test_corrupted_lowcmd_is_detected():
    msg = build_lowcmd(_command(), mode_machine=5)
    msg.motor_cmd[3].q += 0.01
    sample = parse_lowcmd(msg)
    assert not sample.crc_ok and "crc mismatch" in sample.problems()


def test_lowstate_fill_and_parse_round_trip():
    rng = np.random.default_rng(3)
    q, dq, tau = rng.normal(size=(3, NUM_JOINTS))
    quat = np.array([0.9, 0.1, -0.2, 0.3])
    quat /= np.linalg.norm(quat)
    msg = fill_lowstate(new_lowstate(), q, dq, tau, quat, np.array([0.1, 0.2, 0.3]), np.array([0, 0, 9.81]),
                        tick=123456, mode_machine=5)
    assert msg.crc == sdk_crc.CRC().Crc(msg)
    s = parse_lowstate(msg, receive_time=1.5)
    assert s.crc_ok and s.tick == 123456 and s.mode_machine == 5 and s.receive_time == 1.5
    np.testing.assert_allclose(s.q, q, atol=1e-6)
    np.testing.assert_allclose(s.imu_quat, quat, atol=1e-6)
    msg.tick += 1  # a changed field without a new CRC
    assert not parse_lowstate(msg, 0.0).crc_ok


def test_init_unitree_dds_is_idempotent_and_refuses_another_domain(dds_isolation):
    from dataclasses import replace

    from dit4dit_ros.g1.dds import init_unitree_dds

    assert init_unitree_dds(dds_isolation) == dds_isolation
    assert init_unitree_dds() == dds_isolation  # same environment: a no-op
    other = replace(dds_isolation, unitree_domain_id=(dds_isolation.unitree_domain_id + 1) % 200)
    with pytest.raises(RuntimeError, match="already initialised"):
        init_unitree_dds(other)


def test_lowcmd_round_trip_over_dds_loopback(dds_isolation):
    from dit4dit_ros.g1.dds import LowCmdReader, LowCmdWriter, init_unitree_dds
    from dit4dit_ros.utils.waiting import wait_until

    init_unitree_dds(dds_isolation)
    received = []
    reader = LowCmdReader(ControlPath.ARM_SDK, received.append)
    writer = LowCmdWriter(ControlPath.ARM_SDK)
    try:
        msg = build_lowcmd(_command(2), mode_machine=7, path=ControlPath.ARM_SDK, arm_sdk_weight=0.5)
        wait_until(lambda: writer.write(msg) and received, timeout=10.0, poll=0.02, what="LowCmd over DDS")
        s = received[-1]
        assert s.crc_ok and s.mode_machine == 7 and s.arm_sdk_weight == pytest.approx(0.5)
    finally:
        writer.close()
        reader.close()


def test_lowstate_cdr_encoding_is_byte_identical_to_the_sdk_message():
    from dit4dit_ros.g1.lowstate import encode_lowstate_cdr

    rng = np.random.default_rng(11)
    for _ in range(20):
        q, dq, tau, ddq = rng.normal(size=(4, NUM_JOINTS))
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        gyro, acc = rng.normal(size=(2, 3))
        tick = int(rng.integers(0, 2**32))
        kwargs = dict(tick=tick, mode_machine=int(rng.integers(0, 256)), mode_pr=int(rng.integers(0, 2)), ddq=ddq)
        msg = fill_lowstate(new_lowstate(), q, dq, tau, quat, gyro, acc, **kwargs)
        assert encode_lowstate_cdr(q, dq, tau, quat, gyro, acc, **kwargs) == msg.serialize()


def test_serialized_lowstate_arrives_as_a_valid_message(dds_isolation):
    from dit4dit_ros.g1.dds import LowStateReader, LowStateWriter, init_unitree_dds
    from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
    from dit4dit_ros.utils.waiting import wait_until

    init_unitree_dds(dds_isolation)
    got = []
    reader = LowStateReader(got.append, topic="rt/lowstate_selftest")
    writer = LowStateWriter(topic="rt/lowstate_selftest")
    q = np.linspace(-1, 1, NUM_JOINTS)
    payload = encode_lowstate_cdr(q, q, q, np.array([1.0, 0, 0, 0]), np.zeros(3), np.array([0, 0, 9.81]), tick=42,
                                  mode_machine=5)
    try:
        wait_until(lambda: writer.write_serialized(payload) and got, timeout=10.0, poll=0.02, what="raw LowState")
    finally:
        reader.close()
        writer.close()
    s = got[-1]
    assert s.crc_ok and s.tick == 42 and s.mode_machine == 5
    np.testing.assert_allclose(s.q, q, atol=1e-6)


@pytest.mark.parametrize("path, weight, echo", [(ControlPath.LOWCMD, 1.0, None), (ControlPath.ARM_SDK, 0.3, None),
                                                (ControlPath.ARM_SDK, 1.0, (123456, 123400))])
def test_lowcmd_cdr_codec_matches_the_sdk_message(path, weight, echo):
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

    from dit4dit_ros.g1.lowcmd import CommandEcho, decode_lowcmd_cdr, encode_lowcmd_cdr

    cmd = _command(4)
    echo = CommandEcho(*echo) if echo else None
    msg = build_lowcmd(cmd, mode_machine=9, mode_pr=1, path=path, arm_sdk_weight=weight, echo=echo)
    payload = encode_lowcmd_cdr(cmd, mode_machine=9, mode_pr=1, path=path, arm_sdk_weight=weight, echo=echo)
    assert payload == msg.serialize()
    fast, slow = decode_lowcmd_cdr(payload), parse_lowcmd(LowCmd_.deserialize(payload))
    for name in ("q", "dq", "kp", "kd", "tau", "motor_mode"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.crc_ok and (fast.mode_machine, fast.mode_pr, fast.arm_sdk_weight) == (9, 1, slow.arm_sdk_weight)
    # the command-stepped simulator's echo rides in the reserve words (none: all zero, as the SDK sends them)
    assert fast.echo == slow.echo == echo
    assert echo is not None or list(LowCmd_.deserialize(payload).reserve) == [0, 0, 0, 0]
    corrupted = bytearray(payload)
    corrupted[40] ^= 0x10
    assert not decode_lowcmd_cdr(bytes(corrupted)).crc_ok
    with pytest.raises(ValueError, match="XCDR1"):
        decode_lowcmd_cdr(b"\x00\x07" + payload[2:])


def test_lowstate_cdr_decoder_matches_the_sdk_deserializer():
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

    from dit4dit_ros.g1.lowstate import decode_lowstate_cdr

    rng = random.Random(5)
    for _ in range(20):
        payload = _random_lowstate(rng).serialize()
        fast, slow = decode_lowstate_cdr(payload, 1.0), parse_lowstate(LowState_.deserialize(payload), 1.0)
        for name in ("q", "dq", "tau_est", "imu_quat", "imu_gyro", "imu_acc", "tick", "mode_machine", "mode_pr", "crc_ok"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))


def test_interoperates_with_the_sdk_channels(dds_isolation):
    """SDK ChannelPublisher -> our LowCmdReader, our LowStateWriter (raw CDR) -> SDK ChannelSubscriber."""
    from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    from dit4dit_ros.g1.dds import LowCmdReader, LowStateWriter, init_unitree_dds
    from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
    from dit4dit_ros.utils.waiting import wait_until

    init_unitree_dds(dds_isolation)
    cmds, states = [], []
    reader = LowCmdReader(ControlPath.ARM_SDK, cmds.append)
    sdk_pub = ChannelPublisher("rt/arm_sdk", LowCmd_)
    sdk_pub.Init()
    sdk_sub = ChannelSubscriber("rt/lowstate_interop", LowState_)
    sdk_sub.Init(states.append, 0)
    writer = LowStateWriter("rt/lowstate_interop")
    q = np.linspace(-0.5, 0.5, NUM_JOINTS)
    payload = encode_lowstate_cdr(q, q, q, np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3), tick=7, mode_machine=5)
    msg = build_lowcmd(_command(6), mode_machine=5, path=ControlPath.ARM_SDK, arm_sdk_weight=0.7)
    try:
        wait_until(lambda: sdk_pub.Write(msg) and cmds, timeout=10.0, poll=0.02, what="SDK LowCmd -> LowCmdReader")
        wait_until(lambda: writer.write_serialized(payload) and states, timeout=10.0, poll=0.02,
                   what="raw LowState -> SDK subscriber")
    finally:
        reader.close()
        writer.close()
        sdk_pub.Close()
        sdk_sub.Close()
    assert cmds[-1].crc_ok and cmds[-1].arm_sdk_weight == pytest.approx(0.7)
    assert states[-1].tick == 7 and states[-1].crc == sdk_crc.CRC().Crc(states[-1])


def test_lowstate_log_keeps_the_newest_and_counts_every_arrival(dds_isolation):
    """Indices keep counting past the trimmed samples: `since(n)` never hands back a sample older than the n-th."""
    from dit4dit_ros.g1.dds import LowStateLog, LowStateWriter, init_unitree_dds
    from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
    from dit4dit_ros.utils.waiting import wait_until

    with pytest.raises(ValueError, match="keep"):
        LowStateLog(keep=0)
    init_unitree_dds(dds_isolation)
    log = LowStateLog(topic="rt/lowstate_logtest", keep=3)
    writer = LowStateWriter(topic="rt/lowstate_logtest")
    zero = np.zeros(NUM_JOINTS)

    def send(tick: int) -> bytes:
        return encode_lowstate_cdr(zero, zero, zero, np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3), tick=tick,
                                   mode_machine=5)
    try:
        wait_until(lambda: writer.write_serialized(send(0)) and len(log) > 0, timeout=10.0, poll=0.02,
                   what="the first LowState in the log")
        first = len(log)  # discovery: the probe may have arrived more than once
        for tick in range(1, 11):  # each written until it arrived (a best-effort reader may miss one write)
            wait_until(lambda: log.latest().tick == tick or (writer.write_serialized(send(tick)) and False),
                       timeout=5.0, poll=0.02, what=f"LowState tick {tick}")
        total, kept = len(log), log.since(0)
        assert total >= first + 10 and kept[-1].tick == 10
        assert 3 <= len(kept) <= 6  # the newest `keep` or up to twice that (trimmed in batches)
        ids = [id(s) for s in kept]
        assert [id(s) for s in log.since(total - len(kept))] == ids and [id(s) for s in log.since(total - 1)] == ids[-1:]
        assert log.since(total) == []
        assert [id(s) for s in log.since(total - 100)] == ids  # an index among the trimmed: what is kept, none older
        assert all(s.tick > 8 for s in log.after_tick(8)) and log.after_tick(8)[-1].tick == 10
        t = kept[-1].receive_time
        assert log.received_between(t, t + 1.0) == [t]
    finally:
        log.close()
        writer.close()
