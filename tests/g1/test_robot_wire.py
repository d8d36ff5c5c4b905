"""RobotWire, the robot's side of the Unitree DDS wire that the supervision tests and `bench safety` judge by."""
from __future__ import annotations

import time

import numpy as np

from dit4dit_ros.g1.joints import NUM_JOINTS
from dit4dit_ros.g1.lowcmd import ControlPath, MotorCommand
from dit4dit_ros.utils.waiting import wait_until


def _command(damping: bool) -> MotorCommand:
    z = np.zeros(NUM_JOINTS)
    kp = z if damping else np.full(NUM_JOINTS, 40.0)
    return MotorCommand(q=z, dq=z, kp=kp, kd=np.full(NUM_JOINTS, 2.0), tau=z)


def test_wait_damping_then_silence_waits_for_the_damping_event_not_a_quiet_moment(dds_isolation):
    from dit4dit_ros.g1.dds import LowCmdWriter, init_unitree_dds
    from dit4dit_ros.safety.wire import RobotWire

    init_unitree_dds(dds_isolation)
    wire = RobotWire()
    writer = LowCmdWriter(ControlPath.ARM_SDK)
    try:
        wait_until(lambda: writer.write_command(_command(False), 1) and wire.count() > 0, 10.0, poll=0.02,
                   what="the wire hearing the writer")
        since = time.monotonic()
        for _ in range(5):
            assert writer.write_command(_command(False), 1)
        # tracking then a 1.2 s pause: a quiet moment, but no damping yet -> not "damped then silent"
        assert not wire.wait_damping_then_silence(since, timeout=1.2, quiet=0.5)
        for _ in range(5):
            assert writer.write_command(_command(True), 1)
        assert wire.wait_damping_then_silence(since, timeout=10.0, quiet=0.5)
        summary = wire.summary(since)
        assert summary.damping > 0 and summary.unsafe == 0 and wire.tracking_after_damping(since) == 0
    finally:
        writer.close()
        wire.close()
