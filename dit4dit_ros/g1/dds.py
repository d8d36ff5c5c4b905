"""Thin wrappers over CycloneDDS for the G1 low-level topics, configured by the Unitree SDK.

`ChannelFactoryInitialize(domain, interface)` (unitree_sdk2py) configures one CycloneDDS domain per *process*
and silently ignores later calls, even with another domain. `init_unitree_dds` makes that explicit: the first
call wins, a repeated call with the same isolation is a no-op, and a call with a different one is an error
instead of traffic on the wrong domain.

The readers and writers are the same CycloneDDS entities the SDK's ChannelPublisher/ChannelSubscriber create
(same topics, types and default QoS, so they interoperate with the robot and with SDK programs), but they move
CDR bytes with g1/lowcmd.py and g1/lowstate.py codecs instead of CycloneDDS's Python (de)serializer, which
costs 0.4-0.7 ms per LowCmd_/LowState_: at 500 Hz that alone would take a third of a core per stream.
Messages that are not little-endian XCDR1 fall back to the generic deserializer.

Callbacks run in CycloneDDS listener threads: keep them short (store the sample, signal a condition).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from dit4dit_ros.g1.lowcmd import (
    CommandEcho,
    ControlPath,
    LowCmdSample,
    MotorCommand,
    decode_lowcmd_cdr,
    encode_lowcmd_cdr,
    parse_lowcmd,
)
from dit4dit_ros.g1.lowstate import LowStateSample, decode_lowstate_cdr, parse_lowstate
from dit4dit_ros.utils.dds_env import DdsIsolation, isolation_from_env, require_no_domain_clash

LOG = logging.getLogger(__name__)
LOWSTATE_TOPIC = "rt/lowstate"
AUTO_INTERFACE = "auto"  # let CycloneDDS pick the interface (the SDK's default when no name is given)

_init_lock = threading.Lock()
_initialized: DdsIsolation | None = None


def init_unitree_dds(isolation: DdsIsolation | None = None) -> DdsIsolation:
    """Initialise the SDK's DDS domain once per process (domain/interface from the environment by default).

    Returns the isolation in effect. Raises RuntimeError if the process was already initialised with a
    different Unitree domain or interface, and DomainClashError if the Unitree domain is the ROS domain.
    """
    global _initialized
    iso = isolation if isolation is not None else isolation_from_env()
    require_no_domain_clash(iso)
    with _init_lock:
        if _initialized is not None:
            if (iso.unitree_domain_id, iso.unitree_interface) != (_initialized.unitree_domain_id, _initialized.unitree_interface):
                raise RuntimeError(
                    f"Unitree DDS already initialised in this process on domain {_initialized.unitree_domain_id} "
                    f"interface {_initialized.unitree_interface!r}; cannot switch to domain {iso.unitree_domain_id} "
                    f"interface {iso.unitree_interface!r} (ChannelFactoryInitialize works once per process)"
                )
            return _initialized
        from unitree_sdk2py.core import channel as sdk_channel

        from dit4dit_ros.utils.dds_transport import cyclonedds_config

        interface = None if iso.unitree_interface == AUTO_INTERFACE else iso.unitree_interface
        LOG.info("Unitree DDS: domain %d interface %s", iso.unitree_domain_id, interface or "auto")
        if interface is not None:
            # The SDK hands CycloneDDS its own configuration (which overrides CYCLONEDDS_URI) built from a module
            # template; ours names the same interface, keeps loopback off multicast and writes no trace file.
            sdk_channel.ChannelConfigHasInterface = cyclonedds_config(interface)
        sdk_channel.ChannelFactoryInitialize(iso.unitree_domain_id, interface)
        _initialized = iso
        return iso


def _require_init() -> None:
    if _initialized is None:
        init_unitree_dds()


_participant_ref = None


def _participant():
    """The CycloneDDS participant of this process on the Unitree domain (after init_unitree_dds)."""
    global _participant_ref
    _require_init()
    with _init_lock:
        if _participant_ref is None:
            from cyclonedds.domain import DomainParticipant

            _participant_ref = DomainParticipant(_initialized.unitree_domain_id)
        return _participant_ref


class _RawWriter:
    def __init__(self, topic: str, idl_type: Any) -> None:
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic

        participant = _participant()
        self._writer = DataWriter(participant, Topic(participant, topic, idl_type))

    def write(self, msg: Any) -> bool:
        """Send a message object (CycloneDDS serializes it: slow, see the module docstring)."""
        self._writer.write(msg)
        return True

    def matched_readers(self) -> int:
        """How many DDS readers currently match this writer (publication-matched status); 0 = nobody listens."""
        return int(self._writer.get_publication_matched_status().current_count)

    def write_serialized(self, payload: bytes) -> bool:
        """Send CDR bytes with their 4-byte encapsulation header (e.g. from encode_lowcmd_cdr)."""
        from cyclonedds._clayer import ddspy_write

        if len(payload) % 4:
            raise ValueError(f"CDR payload must be padded to 4 bytes, got {len(payload)}")
        return ddspy_write(self._writer._ref, payload) >= 0

    def close(self) -> None:
        self._writer = None


class _RawReader:
    """CDR bytes of a topic: handed to `on_payload(payload)` in the listener thread, or (on_payload None) kept
    in the reader's cache until `take()` (the caller's thread decides when to pay for them)."""

    def __init__(self, topic: str, idl_type: Any, on_payload: Callable[[bytes], None] | None,
                 keep_last: int | None = None) -> None:
        from cyclonedds.core import InstanceState, Listener, Policy, Qos, SampleState, ViewState
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        participant = _participant()
        self._on_payload = on_payload
        self._mask = SampleState.Any | ViewState.Any | InstanceState.Any
        listener = Listener(on_data_available=self._on_data) if on_payload is not None else None
        qos = Qos(Policy.History.KeepLast(keep_last)) if keep_last else None  # history is reader-local: no match change
        self._reader = DataReader(participant, Topic(participant, topic, idl_type), qos=qos, listener=listener)

    def take(self, max_samples: int = 16) -> list[bytes]:
        """The payloads received since the last take, oldest first (at most `max_samples`)."""
        return self._take(self._reader, max_samples)

    def _take(self, reader: Any, max_samples: int) -> list[bytes]:
        from cyclonedds._clayer import ddspy_take

        if reader is None:  # data arrived while the reader was being closed (the entity is already gone)
            return []
        samples = ddspy_take(reader._ref, self._mask, max_samples)
        if isinstance(samples, int):
            LOG.warning("DDS take failed with code %d", samples)
            return []
        return [data for data, info in samples if info.valid_data]

    def _on_data(self, reader: Any) -> None:  # may run before __init__ has stored self._reader
        for data in self._take(reader, 16):
            self._on_payload(data)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.set_listener(None)
        self._reader = None


class DataWaiter:
    """Blocks until any of some pollers' readers holds a sample, or a timeout: a CycloneDDS wait set, which waits
    in C with the interpreter released. For a loop that must answer each sample at once (command-stepped
    simulation) without spinning on take()."""

    def __init__(self, *pollers: Any) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet

        self._waitset = WaitSet(_participant())
        self._conditions = []
        for poller in pollers:
            condition = ReadCondition(poller._raw._reader, SampleState.Any | ViewState.Any | InstanceState.Any)
            self._waitset.attach(condition)
            self._conditions.append(condition)

    def wait(self, timeout: float) -> bool:
        """True as soon as a sample is there (at once if one already is), False after `timeout` seconds."""
        return self._waitset.wait(max(0, int(timeout * 1e9))) > 0

    def close(self) -> None:
        """Delete the wait set and its conditions now: a condition keeps its reader alive, and a reader left
        behind (until a garbage collection) would still match writers, e.g. look like a robot reading rt/arm_sdk."""
        for condition in self._conditions:
            self._waitset.detach(condition)
            condition.__del__()  # cyclonedds' own deletion (idempotent), now rather than at the next collection
        self._conditions = []
        self._waitset.__del__()


class LowCmdWriter:
    """Publishes LowCmd_ messages on rt/lowcmd or rt/arm_sdk."""

    def __init__(self, path: ControlPath | str = ControlPath.LOWCMD) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        self.path = ControlPath(path)
        self._raw = _RawWriter(self.path.value, LowCmd_)

    def write(self, msg: Any) -> bool:
        """Send one LowCmd_ object (its CRC must already be set)."""
        return self._raw.write(msg)

    def write_serialized(self, payload: bytes) -> bool:
        """Send a LowCmd_ already serialized by g1.lowcmd.encode_lowcmd_cdr (~0.05 ms instead of ~0.7 ms)."""
        return self._raw.write_serialized(payload)

    def matched_readers(self) -> int:
        """Readers of this path now (the robot's controller, a simulator): 0 means commands reach nobody."""
        return self._raw.matched_readers()

    def write_command(self, cmd: MotorCommand, mode_machine: int, mode_pr: int = 0, arm_sdk_weight: float = 1.0,
                      echo: CommandEcho | None = None) -> bool:
        """Encode and send `cmd` on this writer's path (the fast way to stream commands at 500 Hz)."""
        return self._raw.write_serialized(
            encode_lowcmd_cdr(cmd, mode_machine, mode_pr=mode_pr, path=self.path, arm_sdk_weight=arm_sdk_weight,
                              echo=echo))

    def close(self) -> None:
        self._raw.close()


class LowStateWriter:
    """Publishes rt/lowstate (the simulator plays the robot with it); write_serialized takes
    g1.lowstate.encode_lowstate_cdr bytes."""

    def __init__(self, topic: str = LOWSTATE_TOPIC) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

        self._raw = _RawWriter(topic, LowState_)

    def write(self, msg: Any) -> bool:
        return self._raw.write(msg)

    def write_serialized(self, payload: bytes) -> bool:
        return self._raw.write_serialized(payload)

    def close(self) -> None:
        self._raw.close()


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
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

        self._type = LowState_
        self._callback = callback
        self._clock = clock
        self._raw = _RawReader(topic, LowState_, self._on_payload)

    def _on_payload(self, payload: bytes) -> None:
        sample = _decode(payload, self._clock(), decode_lowstate_cdr, parse_lowstate, self._type)
        if sample is not None:
            self._callback(sample)

    def close(self) -> None:
        self._raw.close()


class LowStateLog:
    """Every LowState heard on `topic`, in arrival order (the newest `keep` of them), for tools and tests that look
    back at the stream: how many arrived, the newest, those after an arrival index or a robot tick, when they came.

    Samples arrive on the DDS listener's thread; every read takes a copy under the lock.
    """

    def __init__(self, topic: str = LOWSTATE_TOPIC, keep: int = 100_000) -> None:
        if keep < 1:
            raise ValueError(f"LowStateLog keep must be >= 1, got {keep}")
        self._lock = threading.Lock()
        self._samples: list[LowStateSample] = []
        self._count = 0  # received in all (the first kept sample has index _count - len(_samples))
        self._keep = keep
        self._reader = LowStateReader(self._add, topic=topic)

    def _add(self, sample: LowStateSample) -> None:
        with self._lock:
            self._samples.append(sample)
            self._count += 1
            if len(self._samples) > 2 * self._keep:  # trim in batches: one copy per `keep` samples
                del self._samples[:-self._keep]

    def __len__(self) -> int:
        return self._count

    def latest(self) -> LowStateSample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def since(self, index: int) -> list[LowStateSample]:
        """The samples that arrived as the `index`-th (0-based) or later, of those still kept."""
        with self._lock:
            first = self._count - len(self._samples)
            return self._samples[max(0, index - first):]

    def after_tick(self, tick: int) -> list[LowStateSample]:
        """The kept samples whose robot tick is later than `tick`."""
        with self._lock:
            return [s for s in self._samples if s.tick > tick]

    def received_between(self, t0: float, t1: float) -> list[float]:
        """Receive times (the reader's clock, monotonic) of the kept samples that arrived in [t0, t1]."""
        with self._lock:
            return [s.receive_time for s in self._samples if t0 <= s.receive_time <= t1]

    def close(self) -> None:
        self._reader.close()


def _decode(payload: bytes, now: float, decode: Callable, parse: Callable, idl_type: Any) -> Any:
    """The sample of `payload` with receive time `now`: the fast codec, else the SDK's deserializer (a message that
    is not little-endian XCDR1); None, logged, when neither can read it."""
    try:
        return decode(payload, now)
    except ValueError:
        try:
            return parse(idl_type.deserialize(payload), now)
        except Exception:
            LOG.exception("malformed %s dropped", idl_type.__name__)
            return None


def _decode_all(payloads: list[bytes], now: float, decode: Callable, parse: Callable, idl_type: Any) -> tuple[list, int]:
    """The decodable samples of `payloads` (see _decode) and how many were not."""
    samples = [_decode(payload, now, decode, parse, idl_type) for payload in payloads]
    out = [sample for sample in samples if sample is not None]
    return out, len(samples) - len(out)


class LowStatePoller:
    """rt/lowstate without a listener thread: `take()` decodes what arrived since the last call, in the caller's
    thread (the control loop takes the robot's state at the start of each tick, so a starved listener thread can
    never make a live robot look silent). `stamp(sample)` sets each sample's receive_time (default: monotonic
    time of the take)."""

    DEPTH = 64  # samples kept between two takes (0.13 s of a 500 Hz stream)

    def __init__(self, topic: str = LOWSTATE_TOPIC) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowState_

        self._type = LowState_
        # a CRC-invalid sample must not hide behind the valid one after it: keep every sample between two takes
        self._raw = _RawReader(topic, LowState_, None, keep_last=self.DEPTH)
        self.malformed = 0

    def take(self, now: float | None = None, max_samples: int = DEPTH) -> list[LowStateSample]:
        """Samples received since the last take, oldest first, with receive_time `now` (default monotonic)."""
        now = time.monotonic() if now is None else now
        out, bad = _decode_all(self._raw.take(max_samples), now, decode_lowstate_cdr, parse_lowstate, self._type)
        self.malformed += bad
        return out

    def close(self) -> None:
        self._raw.close()


class LowCmdPoller:
    """rt/lowcmd or rt/arm_sdk without a listener: `take()` decodes what arrived since the last call, in the
    caller's thread. CycloneDDS's receive thread then never waits for this interpreter (a Python listener needs
    the GIL for every sample), so samples queue in the reader's history instead of being overtaken: with a
    listener, a starved process's receive thread fell behind, the writer's process exited meanwhile, and its last
    second of commands (a whole damping ramp) was dropped as coming from a writer no longer known."""

    def __init__(self, path: ControlPath | str, depth: int = 4096) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        self.path = ControlPath(path)
        self._type = LowCmd_
        self._raw = _RawReader(self.path.value, LowCmd_, None, keep_last=depth)
        self.malformed = 0

    def take(self, now: float | None = None, max_samples: int = 4096) -> list[LowCmdSample]:
        """Commands received since the last take, oldest first, with receive_time `now` (default monotonic)."""
        now = time.monotonic() if now is None else now
        out, bad = _decode_all(self._raw.take(max_samples), now, decode_lowcmd_cdr, parse_lowcmd, self._type)
        self.malformed += bad
        return out

    def close(self) -> None:
        self._raw.close()


class LowCmdReader:
    """Calls `callback(LowCmdSample)` for every LowCmd_ received on `path` (CRC checked, not filtered)."""

    def __init__(
        self,
        path: ControlPath | str,
        callback: Callable[[LowCmdSample], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

        self.path = ControlPath(path)
        self._type = LowCmd_
        self._callback = callback
        self._clock = clock
        self._raw = _RawReader(self.path.value, LowCmd_, self._on_payload)

    def _on_payload(self, payload: bytes) -> None:
        sample = _decode(payload, self._clock(), decode_lowcmd_cdr, parse_lowcmd, self._type)
        if sample is not None:
            self._callback(sample)

    def close(self) -> None:
        self._raw.close()
