"""Salvage episodes whose recorder died (kill -9, power loss) or failed (disk full) while writing.

The MCAP data file of an interrupted recording has no summary and may end in the middle of a record, but
everything up to the last complete chunk is intact (rosbags writes chunks of ~1 MB, i.e. the last ~1 s of
state or ~1 image may be lost). `recover_partial` reads the file record by record with the `mcap` stream
reader, stops at the first truncated record, and writes the complete messages into a fresh, properly
closed bag. The result appears atomically as <root>/episode_N with status "recovered"; a partial episode
with nothing to salvage is renamed `.failed` with the reason in episode.json, so it is never mistaken for
a good one.
"""
from __future__ import annotations

import logging
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

from dit4dit_ros.data.bag_writer import EpisodeBagWriter
from dit4dit_ros.data.episode_store import (
    FAILED_SUFFIX,
    STATUS_FAILED,
    STATUS_RECOVERED,
    EpisodeInfo,
    EpisodeStore,
    _EPISODE_RE,
)
from dit4dit_ros.data.storage import storage_error
from dit4dit_ros.data.topics import StreamRole, StreamSpec, recording_typestore

LOG = logging.getLogger(__name__)


@dataclass
class RecoveryResult:
    index: int
    path: Path  # the recovered episode, or the partial directory marked failed
    recovered: bool
    message_counts: dict[str, int]
    reason: str


@dataclass
class SalvagedMessages:
    streams: list[StreamSpec]
    messages: list[tuple[str, int, bytes]]  # (topic, log_time_ns, data) in file order
    truncated: bool
    error: str | None


def read_salvageable(mcap_path: Path) -> SalvagedMessages:
    """Every complete message of a possibly truncated MCAP file (schemas/channels as declared in it)."""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    messages: list[tuple[str, int, bytes]] = []
    truncated, error = False, None
    with open(mcap_path, "rb") as f:
        try:
            for record in StreamReader(f, emit_chunks=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels.get(record.channel_id)
                    if channel is not None:
                        messages.append((channel.topic, record.log_time, bytes(record.data)))
        except (McapError, struct.error, EOFError, ValueError) as exc:
            truncated, error = True, f"{type(exc).__name__}: {exc}"
    streams = []
    for channel in channels.values():
        schema = schemas.get(channel.schema_id)
        if schema is None:
            continue
        streams.append(StreamSpec(channel.topic, schema.name, StreamRole.OTHER))
    return SalvagedMessages(streams, messages, truncated, error)


def _index_of(path: Path) -> int:
    m = _EPISODE_RE.match(path.name)
    if m is None:
        raise ValueError(f"{path} is not an episode directory (episode_NNNNNN[.failed])")
    return int(m.group(1))


def recover_partial(store: EpisodeStore, partial: Path) -> RecoveryResult:
    """Salvage one partial episode directory (see module docstring)."""
    index = _index_of(partial)
    try:
        info = store.read_info(partial)
    except (OSError, ValueError):
        info = EpisodeInfo(episode_index=index, error="episode.json missing or unreadable")
    if partial.name.endswith(FAILED_SUFFIX) and info.error is None:
        info.error = "the recording failed (directory marked .failed; the reason could not be written)"
    mcaps = sorted(partial.glob("*.mcap"))
    salvaged = read_salvageable(mcaps[0]) if mcaps else SalvagedMessages([], [], True, "no .mcap file")
    typestore = recording_typestore()
    unknown = sorted({s.msgtype for s in salvaged.streams if s.msgtype not in typestore.types})
    if unknown:
        raise ValueError(f"{partial}: cannot re-write message types {unknown} (not in the recording typestore)")

    if not salvaged.messages:
        reason = f"nothing to recover from {partial}: no complete message ({salvaged.error or 'empty file'})"
        info.status = STATUS_FAILED
        info.error = reason
        target = partial
        if not partial.name.endswith(FAILED_SUFFIX):
            target = partial.with_name(partial.name + FAILED_SUFFIX)
            store.fs.rename(partial, target)
        store.write_info(target, info)
        LOG.warning("%s", reason)
        return RecoveryResult(index, target, False, {}, reason)

    work = store.partial_root / f".recover_{index:06d}"
    if work.exists():
        shutil.rmtree(work)
    store.fs.mkdir(work)
    bag_dir = work / store.final_dir(index).name
    writer = EpisodeBagWriter(bag_dir, salvaged.streams, store.fs)
    try:
        writer.open()
        for topic, t_ns, data in salvaged.messages:
            writer.write(topic, t_ns, data)
        files = writer.close()
    except OSError as exc:
        writer.abort()
        raise storage_error(bag_dir, exc, "write the recovered episode to") from exc
    last_t = max(t for _, t, _ in salvaged.messages)
    first_t = min(t for _, t, _ in salvaged.messages)
    reason = (
        f"recovered {len(salvaged.messages)} messages from an interrupted recording"
        + (f"; data after the last complete chunk was lost ({salvaged.error})" if salvaged.truncated else "")
    )
    previous_error = info.error
    info.status = STATUS_RECOVERED
    info.message_counts = dict(writer.counts)
    info.start_time_ns = info.start_time_ns or first_t
    info.end_time_ns = last_t
    info.error = reason if previous_error is None else f"{previous_error}; {reason}"
    for path in files:
        store.fs.fsync_file(path)
    store.write_info(bag_dir, info)
    dst = store.final_dir(index)
    store.fs.rename(bag_dir, dst)
    shutil.rmtree(work)
    shutil.rmtree(partial)
    LOG.info("episode %d: %s -> %s", index, reason, dst)
    return RecoveryResult(index, dst, True, dict(writer.counts), reason)


def recover_partials(store: EpisodeStore, include_failed: bool = True) -> list[RecoveryResult]:
    """Recover every partial episode under `store.root` (crashed ones, and failed ones when asked)."""
    results = []
    for partial in store.partials():
        if partial.name.endswith(FAILED_SUFFIX) and not include_failed:
            continue
        results.append(recover_partial(store, partial))
    return results
