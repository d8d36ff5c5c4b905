"""The Dex3-1 hands in the executor's real-time process: their state in, their commands out, on rt/dex3/*.

The executor core's HandController decides what the hands get (the gripper column of the current chunk or a
teleop setpoint, limited in position, velocity and torque; damping in DAMPING and ESTOP; nothing when DISABLED).
This part moves it over the wire in the tick, after the body's command went out: each tick takes the newest
HandState of each hand (no listener thread, like the body's LowState), and every `every` ticks (100 Hz, the
Dex3-1's command rate, at the 500 Hz tick) sends each hand its HandCmd_.
"""
from __future__ import annotations

import logging

from dit4dit_ros.g1.hands import HandSide

log = logging.getLogger(__name__)


class RtHands:
    def __init__(self, core, every: int) -> None:
        from dit4dit_ros.g1.hand_dds import HandCmdWriter, HandStatePoller

        self.core, self.every = core, max(1, int(every))
        self.pollers = {side: HandStatePoller(side) for side in HandSide}
        self.writers = {side: HandCmdWriter(side) for side in HandSide}
        self.sent = 0
        self.send_failures = 0

    def tick(self, tick_no: int, now: float) -> None:
        for side, poller in self.pollers.items():
            sample = poller.take()
            if sample is not None:
                self.core.observe_hand(side, sample.q, now)
        if tick_no % self.every:
            return
        for side, command in self.core.hand_commands(now).items():
            try:
                ok = self.writers[side].write_command(command)
            except Exception:
                log.exception("HandCmd write failed (%s)", side.value)
                ok = False
            self.sent += ok
            self.send_failures += not ok

    def status(self) -> dict:
        return {"hand_commands_sent": self.sent, "hand_send_failures": self.send_failures}

    def close(self) -> None:
        for entity in (*self.pollers.values(), *self.writers.values()):
            entity.close()
