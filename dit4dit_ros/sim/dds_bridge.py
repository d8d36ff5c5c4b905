"""Plays the robot on the Unitree DDS topics: rt/lowcmd + rt/arm_sdk in, rt/lowstate out (SimLoop sink).

LowState goes out pre-serialized (g1.lowstate.encode_lowstate_cdr, byte-identical to the SDK message):
500 messages per second through CycloneDDS's Python serializer would cost a quarter of a core.

BridgeConfig can make it behave like Unitree's own simulator (unitree_mujoco) instead of the robot: LowState
with crc 0, no rt/arm_sdk reader (together with the loop's 200 Hz state rate and mode_machine 0, see
`dit4dit sim-robot --unitree-compat`), so the stack's handling of that simulator is tested here.

With Dex3-1 hands the bridge also plays the hands: rt/dex3/{left,right}/cmd (HandCmd_) in, to SimHands;
rt/dex3/{left,right}/state (HandState_) out at HAND_STATE_PERIOD (100 Hz of sim time, the Dex3-1's rate).
"""
from __future__ import annotations

import logging

from dataclasses import dataclass

from dit4dit_ros.g1.dds import LowCmdReader, LowStateWriter, init_unitree_dds
from dit4dit_ros.g1.hands import HandSide
from dit4dit_ros.g1.lowcmd import ControlPath
from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
from dit4dit_ros.sim.loop import NullSink
from dit4dit_ros.sim.robot import SimRobot
from dit4dit_ros.utils.dds_env import DdsIsolation

LOG = logging.getLogger(__name__)
HAND_STATE_PERIOD = 0.01  # s of sim time between HandState_ messages


@dataclass(frozen=True)
class BridgeConfig:
    lowstate_crc: bool = True  # False: crc word 0, as Unitree's own simulators publish
    arm_sdk_reader: bool = True  # False: nobody reads rt/arm_sdk, as in Unitree's own simulators


class SimDdsBridge(NullSink):
    def __init__(self, robot: SimRobot, isolation: DdsIsolation | None = None,
                 config: BridgeConfig | None = None) -> None:
        self.robot = robot
        self.config = config or BridgeConfig()
        self.isolation = init_unitree_dds(isolation)
        self.published = 0
        self._writer = LowStateWriter()
        self._readers = [LowCmdReader(ControlPath.LOWCMD, lambda s: robot.submit(ControlPath.LOWCMD, s))]
        if self.config.arm_sdk_reader:
            self._readers.append(LowCmdReader(ControlPath.ARM_SDK, lambda s: robot.submit(ControlPath.ARM_SDK, s)))
        self._hand_readers, self._hand_writers = [], {}
        self._next_hand_state = 0.0
        if robot.hands is not None:
            from dit4dit_ros.g1.hand_dds import HandCmdReader, HandStateWriter

            self._hand_readers = [HandCmdReader(side, robot.hands.submit) for side in HandSide]
            self._hand_writers = {side: HandStateWriter(side) for side in HandSide}
        LOG.info("sim robot on Unitree DDS domain %d (%s): %s -> rt/lowstate%s",
                 self.isolation.unitree_domain_id, self.isolation.unitree_interface,
                 ", ".join(r.path.value for r in self._readers),
                 "" if self.config.lowstate_crc else " (crc 0, like Unitree's simulators)")

    def on_state(self, robot: SimRobot) -> None:
        s = robot.state()
        payload = encode_lowstate_cdr(s.q, s.dq, s.tau, s.imu_quat, s.imu_gyro, s.imu_acc, tick=s.tick,
                                      mode_machine=robot.config.mode_machine, mode_pr=s.mode_pr, ddq=s.ddq,
                                      with_crc=self.config.lowstate_crc)
        if self._writer.write_serialized(payload):
            self.published += 1
        if self._hand_writers and s.time >= self._next_hand_state:
            self._next_hand_state = s.time + HAND_STATE_PERIOD - 1e-9
            for side, writer in self._hand_writers.items():
                writer.write_state(*robot.hands.joint_state(side))

    def close(self) -> None:
        for reader in self._readers + self._hand_readers:
            reader.close()
        for writer in self._hand_writers.values():
            writer.close()
        self._writer.close()
