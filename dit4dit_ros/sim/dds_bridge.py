"""Plays the robot on the Unitree DDS topics: rt/lowcmd + rt/arm_sdk in (polled each state period), rt/lowstate out (SimLoop sink).

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

from dit4dit_ros.g1.dds import DataWaiter, LowCmdPoller, LowStateWriter, init_unitree_dds
from dit4dit_ros.g1.hands import HandSide
from dit4dit_ros.g1.lowcmd import ControlPath
from dit4dit_ros.g1.lowstate import encode_lowstate_cdr
from dit4dit_ros.sim.command_step import CommandStepper
from dit4dit_ros.sim.loop import NullSink
from dit4dit_ros.sim.robot import SimRobot
from dit4dit_ros.utils.dds_env import DdsIsolation
from dit4dit_ros.utils.param_fields import param_field

LOG = logging.getLogger(__name__)
HAND_STATE_PERIOD = 0.01  # s of sim time between HandState_ messages
COMMAND_HISTORY = 256  # commands kept between two takes: 0.5 s of a 500 Hz stream


@dataclass(frozen=True)
class BridgeConfig:
    lowstate_crc: bool = param_field(True, "compute the rt/lowstate crc like the robot (false: crc 0, like Unitree's "
                                     "simulators)")
    arm_sdk_reader: bool = param_field(True, "answer rt/arm_sdk like the robot's balance controller (false: no reader, "
                                       "like Unitree's simulators)")
    command_stepped: bool = param_field(False, "after each LowState wait for the executor's answer to it (executor "
                                        "command_echo; sim/command_step.py): the same commands reach the same physics "
                                        "steps however busy the host is")
    command_step_timeout: float = param_field(0.2, "command-stepped: wall seconds to wait for an answer before "
                                              "stepping on without it", minimum=0.001, maximum=10.0)


class SimDdsBridge(NullSink):
    def __init__(self, robot: SimRobot, isolation: DdsIsolation | None = None,
                 config: BridgeConfig | None = None) -> None:
        self.robot = robot
        self.config = config or BridgeConfig()
        self.isolation = init_unitree_dds(isolation)
        self.published = 0
        self._writer = LowStateWriter()
        # Commands are taken by polling, once per state period in the loop thread, not by a listener: a listener
        # runs Python in CycloneDDS's receive thread, which then waits for this busy interpreter, and with a
        # KEEP_LAST 1 history the commands that arrive meanwhile overwrite each other (measured: 230 of 485
        # commands/s reached the robot). A deep history keeps every command until the next take.
        paths = [ControlPath.LOWCMD] + ([ControlPath.ARM_SDK] if self.config.arm_sdk_reader else [])
        self._readers = [LowCmdPoller(path, depth=COMMAND_HISTORY) for path in paths]
        self._hand_readers, self._hand_writers = [], {}
        self._next_hand_state = 0.0
        self.stepper = self._waiter = None
        if self.config.command_stepped:
            self._waiter = DataWaiter(*self._readers)
            self.stepper = CommandStepper(self.config.command_step_timeout, wait=self._waiter.wait)
        if robot.hands is not None:
            from dit4dit_ros.g1.hand_dds import HandCmdReader, HandStateWriter

            self._hand_readers = [HandCmdReader(side, robot.hands.submit) for side in HandSide]
            self._hand_writers = {side: HandStateWriter(side) for side in HandSide}
        LOG.info("sim robot on Unitree DDS domain %d (%s): %s -> rt/lowstate%s",
                 self.isolation.unitree_domain_id, self.isolation.unitree_interface,
                 ", ".join(r.path.value for r in self._readers),
                 "" if self.config.lowstate_crc else " (crc 0, like Unitree's simulators)")

    def _take_commands(self) -> None:
        for reader in self._readers:
            samples = reader.take()
            for sample in samples:
                if sample.echo is None or not sample.echo.answer_only:  # an answer only is no command
                    self.robot.submit(reader.path, sample)
            if self.stepper is not None:
                self.stepper.note(samples)

    def on_ack(self, stamp: float, chunk: bool) -> None:
        if chunk and self.stepper is not None:
            self.stepper.expect_chunk(stamp)

    def on_resume(self) -> None:
        if self.stepper is not None:  # the executor has handled the frame's chunk before the physics goes on
            self.stepper.wait_for_chunk(self._take_commands)

    def on_state(self, robot: SimRobot) -> None:
        self._take_commands()
        s = robot.state()
        payload = encode_lowstate_cdr(s.q, s.dq, s.tau, s.imu_quat, s.imu_gyro, s.imu_acc, tick=s.tick,
                                      mode_machine=robot.config.mode_machine, mode_pr=s.mode_pr, ddq=s.ddq,
                                      with_crc=self.config.lowstate_crc)
        if self._writer.write_serialized(payload):
            self.published += 1
        if self.stepper is not None:  # the next physics step runs with the executor's answer to this state
            self.stepper.after_publish(s.tick, self._take_commands)
        if self._hand_writers and s.time >= self._next_hand_state:
            self._next_hand_state = s.time + HAND_STATE_PERIOD - 1e-9
            for side, writer in self._hand_writers.items():
                writer.write_state(*robot.hands.joint_state(side))

    def counters(self) -> dict[str, float]:
        """The command stepping's counters (sim/command_step.py), empty when it is off."""
        return self.stepper.counters() if self.stepper is not None else {}

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.close()
        for reader in self._readers + self._hand_readers:
            reader.close()
        for writer in self._hand_writers.values():
            writer.close()
        self._writer.close()
