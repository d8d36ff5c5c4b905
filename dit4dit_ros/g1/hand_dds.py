"""The Dex3-1 hands on Unitree DDS: rt/dex3/{left,right}/cmd (HandCmd_) and .../state (HandState_).

Same entities as the SDK's ChannelPublisher/ChannelSubscriber (topics, types, default QoS, so the robot's hands
and Unitree's programs interoperate), moving bytes coded by g1/hand_wire.py. Callbacks run in CycloneDDS listener
threads: keep them short. Malformed messages are dropped, logged once per reader and counted.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from dit4dit_ros.g1.dds import _RawReader, _RawWriter
from dit4dit_ros.g1.hand_command import HandCommand
from dit4dit_ros.g1.hand_wire import (HandStateSample, decode_handcmd_cdr, decode_handstate_cdr, encode_handcmd_cdr,
                                      encode_handstate_cdr, hand_topics)
from dit4dit_ros.g1.hands import HandSide, hand_side

LOG = logging.getLogger(__name__)


class HandCmdWriter:
    """Publishes one hand's commands on rt/dex3/<side>/cmd."""

    def __init__(self, side: "HandSide | str") -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_

        self.side = hand_side(side)
        self._raw = _RawWriter(hand_topics(self.side)[0], HandCmd_)

    def write_command(self, cmd: HandCommand, enabled: bool = True) -> bool:
        return self._raw.write_serialized(encode_handcmd_cdr(cmd, enabled))

    def matched_readers(self) -> int:
        return self._raw.matched_readers()

    def close(self) -> None:
        self._raw.close()


class HandStateWriter:
    """Publishes one hand's motor state on rt/dex3/<side>/state (the simulated hand)."""

    def __init__(self, side: "HandSide | str") -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandState_

        self.side = hand_side(side)
        self._raw = _RawWriter(hand_topics(self.side)[1], HandState_)

    def write_state(self, q, dq, tau) -> bool:
        return self._raw.write_serialized(encode_handstate_cdr(q, dq, tau))

    def close(self) -> None:
        self._raw.close()


def _decode_counted(reader: Any, payload: bytes, decode: Callable[[bytes], Any]) -> Any:
    """`decode(payload)`, or None for a malformed message: counted on `reader.malformed`, logged once per reader."""
    try:
        return decode(payload)
    except ValueError as exc:
        reader.malformed += 1
        if reader.malformed == 1:
            LOG.warning("dropping malformed %s message: %s", reader.topic, exc)
        return None


class _DecodingReader:
    def __init__(self, topic: str, idl_type: Any, decode: Callable[[bytes], Any], deliver: Callable[[Any], None]) -> None:
        self.topic, self.malformed = topic, 0
        self._decode, self._deliver = decode, deliver
        self._raw = _RawReader(topic, idl_type, self._on_payload)

    def _on_payload(self, payload: bytes) -> None:
        value = _decode_counted(self, payload, self._decode)
        if value is not None:
            self._deliver(value)

    def close(self) -> None:
        self._raw.close()


class HandCmdReader(_DecodingReader):
    """Calls `callback(side, HandCommand)` for every valid HandCmd_ on rt/dex3/<side>/cmd (disabled motors: no gains)."""

    def __init__(self, side: "HandSide | str", callback: Callable[[HandSide, HandCommand], None]) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_

        self.side = hand_side(side)
        super().__init__(hand_topics(self.side)[0], HandCmd_, lambda b: decode_handcmd_cdr(b)[0],
                         lambda cmd: callback(self.side, cmd))


class HandStateReader(_DecodingReader):
    """Calls `callback(side, HandStateSample, receive_time)` for every valid HandState_ on rt/dex3/<side>/state."""

    def __init__(self, side: "HandSide | str", callback: Callable[[HandSide, HandStateSample, float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandState_

        self.side = hand_side(side)
        super().__init__(hand_topics(self.side)[1], HandState_, decode_handstate_cdr,
                         lambda s: callback(self.side, s, clock()))


class HandStatePoller:
    """rt/dex3/<side>/state without a listener: `take()` returns the newest valid HandStateSample that arrived
    since the last call (None if none), decoded in the caller's thread, like g1.dds.LowStatePoller for the body:
    the executor's control loop takes the hands' state in its tick and no receive thread waits for Python."""

    DEPTH = 8  # the hands publish at 100 Hz; the loop takes every 2 ms

    def __init__(self, side: "HandSide | str") -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandState_

        self.side = hand_side(side)
        self.topic, self.malformed = hand_topics(self.side)[1], 0
        self._raw = _RawReader(self.topic, HandState_, None, keep_last=self.DEPTH)

    def take(self) -> HandStateSample | None:
        newest = None
        for payload in self._raw.take(self.DEPTH):
            newest = _decode_counted(self, payload, decode_handstate_cdr) or newest
        return newest

    def close(self) -> None:
        self._raw.close()


class HandStateCache:
    """The latest HandState of each hand (thread-safe), for appending the hand joints to /joint_states.

    `fresh(now, max_age)` returns the names and (q, dq, tau) of the hands heard from within `max_age` s, in
    HandSide order, so a silent hand drops out of /joint_states instead of reporting stale angles. The times are
    whatever clock the caller uses for both; g1_state uses robot time (LowState ticks), see its _on_hand_state.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._latest: dict[HandSide, tuple[HandStateSample, float]] = {}

    def update(self, side: HandSide, sample: HandStateSample, receive_time: float) -> None:
        with self._lock:
            self._latest[side] = (sample, receive_time)

    def fresh(self, now: float, max_age: float) -> tuple[list[str], list[float], list[float], list[float]]:
        from dit4dit_ros.g1.hands import HAND_JOINT_NAMES

        names: list[str] = []
        q: list[float] = []
        dq: list[float] = []
        tau: list[float] = []
        with self._lock:
            latest = dict(self._latest)
        for side in HandSide:
            entry = latest.get(side)
            if entry is None or now - entry[1] > max_age:
                continue
            sample = entry[0]
            names += HAND_JOINT_NAMES[side]
            q += sample.q.tolist()
            dq += sample.dq.tolist()
            tau += sample.tau.tolist()
        return names, q, dq, tau
