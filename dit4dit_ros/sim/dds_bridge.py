"""Plays the robot on the Unitree DDS topics: rt/lowcmd + rt/arm_sdk in, rt/lowstate out (SimLoop sink).

LowState goes out pre-serialized (g1.lowstate.encode_lowstate_cdr, byte-identical to the SDK message):
500 messages per second through CycloneDDS's Python serializer would cost a quarter of a core.
"""
from __future__ import annotations

import logging

from dit4dit_ros.g1.dds import LowCmdReader, LowStateWriter, init_unitree_dds
from dit4dit_ros.g1.lowcmd import ControlPath
from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
from dit4dit_ros.sim.loop import NullSink
from dit4dit_ros.sim.robot import SimRobot
from dit4dit_ros.utils.dds_env import DdsIsolation

LOG = logging.getLogger(__name__)


class SimDdsBridge(NullSink):
    def __init__(self, robot: SimRobot, isolation: DdsIsolation | None = None) -> None:
        self.robot = robot
        self.isolation = init_unitree_dds(isolation)
        self.published = 0
        self._writer = LowStateWriter()
        self._readers = [
            LowCmdReader(ControlPath.LOWCMD, lambda s: robot.submit(ControlPath.LOWCMD, s)),
            LowCmdReader(ControlPath.ARM_SDK, lambda s: robot.submit(ControlPath.ARM_SDK, s)),
        ]
        LOG.info("sim robot on Unitree DDS domain %d (%s): rt/lowcmd, rt/arm_sdk -> rt/lowstate",
                 self.isolation.unitree_domain_id, self.isolation.unitree_interface)

    def on_state(self, robot: SimRobot) -> None:
        s = robot.state()
        payload = encode_lowstate_cdr(s.q, s.dq, s.tau, s.imu_quat, s.imu_gyro, s.imu_acc, tick=s.tick,
                                      mode_machine=robot.config.mode_machine, mode_pr=s.mode_pr, ddq=s.ddq)
        if self._writer.write_serialized(payload):
            self.published += 1

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._writer.close()
