"""The simulated Dex3-1 hands on real Unitree DDS (loopback): rt/dex3/<side>/cmd moves them, .../state reports them."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dit4dit_ros.g1.dds import init_unitree_dds
from dit4dit_ros.g1.hand_command import HandCommand, gripper_to_joints
from dit4dit_ros.g1.hand_dds import HandCmdWriter, HandStateReader
from dit4dit_ros.g1.hands import HandSide
from dit4dit_ros.sim.process import SimRobotProcess
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.sim


def test_hand_commands_over_dds_close_the_simulated_hand_and_states_report_it() -> None:
    init_unitree_dds()
    latest: dict[HandSide, np.ndarray] = {}
    counts = {side: 0 for side in HandSide}
    lock = threading.Lock()

    def on_state(side, sample, _t) -> None:
        with lock:
            latest[side] = sample.q
            counts[side] += 1

    readers = [HandStateReader(side, on_state) for side in HandSide]
    writer = HandCmdWriter("right")
    proc = SimRobotProcess(["--no-ros", "--duration", "60", "--task", "pick_place"]).start()
    try:
        wait_until(lambda: len(latest) == 2 or not proc.alive, timeout=60.0, poll=0.05, what="first HandState_ of both hands")
        assert proc.alive, proc.log()
        np.testing.assert_allclose(latest[HandSide.RIGHT], 0.0, atol=0.05)  # starts open
        wait_until(lambda: writer.matched_readers() > 0, timeout=20.0, poll=0.05, what="the sim's rt/dex3/right/cmd reader")
        target = gripper_to_joints("right", 0.7)
        deadline = time.monotonic() + 30.0
        reached = False
        while time.monotonic() < deadline and not reached:  # stream at ~100 Hz until the hand gets there
            writer.write_command(HandCommand.position(target))
            with lock:
                reached = bool(np.max(np.abs(latest[HandSide.RIGHT] - target)) < 0.08)
            time.sleep(0.01)
        assert reached, (latest[HandSide.RIGHT], target, proc.log())
        with lock:
            np.testing.assert_allclose(latest[HandSide.LEFT], 0.0, atol=0.05)  # the other hand was not commanded
            assert min(counts.values()) > 10
    finally:
        code = proc.stop()
        writer.close()
        for reader in readers:
            reader.close()
    assert code == 0, proc.log()
