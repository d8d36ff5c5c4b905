"""Thin wrappers over the Unitree SDK's DDS channels (CycloneDDS) for the G1 low-level topics.

`ChannelFactoryInitialize(domain, interface)` configures one CycloneDDS domain per *process* and silently
ignores later calls, even with another domain. `init_unitree_dds` makes that explicit: the first call wins,
a repeated call with the same isolation is a no-op, and a call with a different one is an error instead of
traffic on the wrong domain.

Callbacks run in CycloneDDS listener threads: keep them short (store the sample, signal a condition).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from dit4dit_ros.g1.lowcmd import ControlPath, LowCmdSample, parse_lowcmd
from dit4dit_ros.g1.lowstate import LowStateSample, parse_lowstate
from dit4dit_ros.utils.dds_env import DdsIsolation, isolation_from_env

LOG = logging.getLogger(__name__)
LOWSTATE_TOPIC = "rt/lowstate"
AUTO_INTERFACE = "auto"  # let CycloneDDS pick the interface (the SDK's default when no name is given)

_init_lock = threading.Lock()
_initialized: DdsIsolation | None = None


def init_unitree_dds(isolation: DdsIsolation | None = None) -> DdsIsolation:
    """Initialise the SDK's DDS domain once per process (domain/interface from the environment by default).

    Returns the isolation in effect. Raises RuntimeError if the process was already initialised with a
    different Unitree domain or interface.
    """
    global _initialized
    iso = isolation if isolation is not None else isolation_from_env()
    with _init_lock:
        if _initialized is not None:
            if (iso.unitree_domain_id, iso.unitree_interface) != (_initialized.unitree_domain_id, _initialized.unitree_interface):
                raise RuntimeError(
                    f"Unitree DDS already initialised in this process on domain {_initialized.unitree_domain_id} "
                    f"interface {_initialized.unitree_interface!r}; cannot switch to domain {iso.unitree_domain_id} "
                    f"interface {iso.unitree_interface!r} (ChannelFactoryInitialize works once per process)"
                )
            return _initialized
        from unitree_sdk2py.core.channel import ChannelFactoryInitialize

        interface = None if iso.unitree_interface == AUTO_INTERFACE else iso.unitree_interface
        LOG.info("Unitree DDS: domain %d interface %s", iso.unitree_domain_id, interface or "auto")
        ChannelFactoryInitialize(iso.unitree_domain_id, interface)
        _initialized = iso
        return iso


def _require_init() -> None:
    if _initialized is None:
        init_unitree_dds()


class LowCmdWriter:
    """Publishes LowCmd_ messages on rt/lowcmd or rt/arm_sdk."""

    def __init__(self, path: ControlPath | str = ControlPath.LOWCMD) -> None:
        from unitree_sdk2py.core.channel import ChannelPublisher
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        _require_init()
        self.path = ControlPath(path)
        self._pub = ChannelPublisher(self.path.value, LowCmd_)
        self._pub.Init()

    def write(self, msg: Any) -> bool:
        """Send one LowCmd_ (its CRC must already be set); False if DDS refused it."""
        return bool(self._pub.Write(msg))

    def close(self) -> None:
        self._pub.Close()


_raw_participant = None


def _participant():
    """A CycloneDDS participant on the Unitree domain for writers that bypass the SDK's channel wrappers."""
    global _raw_participant
    _require_init()
    with _init_lock:
        if _raw_participant is None:
            from cyclonedds.domain import DomainParticipant

            _raw_participant = DomainParticipant(_initialized.unitree_domain_id)
        return _raw_participant


class LowStateWriter:
    """Publishes rt/lowstate (the simulator plays the robot with it).

    `write(msg)` takes a LowState_; `write_serialized(payload)` takes the CDR bytes of one
    (g1.lowstate.encode_lowstate_cdr) and skips CycloneDDS's Python serializer (~0.5 ms per message). The
    writer is a plain CycloneDDS DataWriter with the SDK's (default) QoS, on its own participant.
    """

    def __init__(self, topic: str = LOWSTATE_TOPIC) -> None:
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

        participant = _participant()
        self._writer = DataWriter(participant, Topic(participant, topic, LowState_))

    def write(self, msg: Any) -> bool:
        self._writer.write(msg)
        return True

    def write_serialized(self, payload: bytes) -> bool:
        """Send pre-serialized LowState_ CDR (with its 4-byte encapsulation header)."""
        from cyclonedds._clayer import ddspy_write

        if len(payload) % 4:
            raise ValueError(f"CDR payload must be padded to 4 bytes, got {len(payload)}")
        return ddspy_write(self._writer._ref, payload) >= 0

    def close(self) -> None:
        self._writer = None


class LowStateReader:
    """Calls `callback(LowStateSample)` for every LowState_ received (CRC checked, see sample.crc_ok).

    `clock` stamps `receive_time` (time.monotonic by default; pass the ROS clock's seconds in a node).
    """

    def __init__(
        self,
        callback: Callable[[LowStateSample], None],
        topic: str = LOWSTATE_TOPIC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from unitree_sdk2py.core.channel import ChannelSubscriber
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

        _require_init()
        self._callback = callback
        self._clock = clock
        self._sub = ChannelSubscriber(topic, LowState_)
        self._sub.Init(self._on_msg, 0)

    def _on_msg(self, msg: Any) -> None:
        try:
            sample = parse_lowstate(msg, self._clock())
        except ValueError:
            LOG.exception("malformed LowState_ dropped")
            return
        self._callback(sample)

    def close(self) -> None:
        self._sub.Close()


class LowCmdReader:
    """Calls `callback(LowCmdSample)` for every LowCmd_ received on `path` (CRC checked, not filtered)."""

    def __init__(
        self,
        path: ControlPath | str,
        callback: Callable[[LowCmdSample], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from unitree_sdk2py.core.channel import ChannelSubscriber
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        _require_init()
        self.path = ControlPath(path)
        self._callback = callback
        self._clock = clock
        self._sub = ChannelSubscriber(self.path.value, LowCmd_)
        self._sub.Init(self._on_msg, 0)

    def _on_msg(self, msg: Any) -> None:
        try:
            sample = parse_lowcmd(msg, self._clock())
        except ValueError:
            LOG.exception("malformed LowCmd_ dropped")
            return
        self._callback(sample)

    def close(self) -> None:
        self._sub.Close()
