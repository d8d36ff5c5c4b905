"""The scripted LowState robot the executor and state-node tests play against: its own SCHED_FIFO process (so the
test process's load cannot silence it), and every control it offers, as a LowState reader sees them."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dit4dit_ros.g1.dds import LowStateLog
from dit4dit_ros.g1.joints import NUM_JOINTS
from dit4dit_ros.utils.waiting import wait_until


@pytest.fixture
def robot_and_reader(dds_isolation):
    from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot

    robot = FakeLowStateRobot(rate_hz=500.0, max_seconds=60.0, isolation=dds_isolation)
    heard = LowStateLog()
    try:
        yield robot, heard
    finally:
        heard.close()
        robot.close()


def test_publishes_from_its_own_realtime_process(robot_and_reader):
    from dit4dit_ros.utils.realtime import realtime_available

    robot, heard = robot_and_reader
    assert robot.pid != os.getpid()
    allowed, why = realtime_available(70)
    if allowed:
        assert robot.scheduler == "SCHED_FIFO:70"
        assert os.sched_getscheduler(robot.pid) == os.SCHED_FIFO
    else:
        assert robot.scheduler == "normal", why
    assert len(heard) == 0  # paused until resumed
    robot.resume()
    wait_until(lambda: len(heard) > 50, 10.0, what="LowState from the robot")
    samples = heard.since(0)
    assert all(s.crc_ok for s in samples)
    assert np.all(np.diff([s.tick for s in samples]) > 0)
    last = samples[-1]
    np.testing.assert_allclose(last.q, 0.01 * np.arange(NUM_JOINTS) + 1e-4 * (last.tick % 1000), atol=1e-6)
    # pause: once it returns, nothing more is sent (DDS delivery of what was sent aside), however many cycles run
    robot.pause()
    sent, tick, cycles = robot.sent_valid, robot.tick, robot.cycles
    wait_until(lambda: robot.cycles >= cycles + 20, 5.0, what="20 paused cycles of the robot's loop")
    assert (robot.sent_valid, robot.tick) == (sent, tick)
    wait_until(lambda: (last := heard.latest()) is not None and last.tick == tick, 5.0, what="the last LowState sent")
    robot.close()
    assert not robot.is_alive()


def test_bad_crc_sim_clock_and_remote(robot_and_reader):
    from dit4dit_ros.g1.fake_lowstate_robot import BAD_CRC_MARKER
    from dit4dit_ros.g1.remote import encode_remote

    robot, heard = robot_and_reader
    robot.set_sim_clock(7.5, 0.0)  # frozen at 7.5 s of simulated time
    robot.remote = encode_remote(["B"])
    robot.resume()
    wait_until(lambda: len(heard) > 20, 10.0, what="LowState from the robot")
    samples = heard.since(5)
    assert {s.tick for s in samples} == {7500}
    assert robot.tick == 7500
    n = len(heard)
    robot.send_bad(3)
    assert robot.sent_bad == 3
    wait_until(lambda: sum(not s.crc_ok for s in heard.since(n)) == 3, 5.0, what="3 CRC-invalid messages")
    assert all(s.q[0] == pytest.approx(BAD_CRC_MARKER) for s in heard.since(n) if not s.crc_ok)
    with pytest.raises(ValueError, match="40 bytes"):
        robot.remote = b"\x00"
    with pytest.raises(ValueError, match="speed"):
        robot.set_sim_clock(0.0, -1.0)
    robot.set_sim_clock(20.0, 1.0)  # runs again, from 20 s
    wait_until(lambda: robot.tick > 20_050, 10.0, what="simulated time running from 20 s")


def test_the_remote_bytes_reach_the_wire(robot_and_reader):
    from dit4dit_ros.g1.remote import encode_remote

    robot, heard = robot_and_reader
    pressed = encode_remote(["A"])
    robot.remote = pressed
    assert robot.remote == pressed
    robot.resume()
    wait_until(lambda: any(bytes(s.wireless_remote) == pressed for s in heard.since(0)), 10.0,
               what="the remote's bytes in LowState")
