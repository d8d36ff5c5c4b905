"""Read one episode bag into time series for export: joint vectors, image times and frames, instruction.

Times: for messages with a std_msgs/Header (Image, JointState) the default time is header.stamp, i.e. when
the publisher captured/sent the data, not when the recorder received it (transport delay of an image is a
few ms). `time_source="receive"` uses the bag's log time instead. Headerless streams (Unitree LowCmd) always
use the log time, which the recorder takes from the same ROS clock.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from rosbags.rosbag2 import Reader

from dit4dit_ros.data.episode_store import EpisodeInfo, EpisodeStore
from dit4dit_ros.data.handcmd_cdr import handcmd_q_from_cdr
from dit4dit_ros.data.lowcmd_cdr import lowcmd_from_cdr
from dit4dit_ros.data.topics import (
    HAND_COMMAND_BAG_TOPICS,
    HANDCMD_TYPE,
    IMAGE_TYPE,
    JOINT_STATE_TYPE,
    LOWCMD_TYPE,
    STRING_TYPE,
    recording_typestore,
)
from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES, HAND_JOINT_NAMES, hand_side
from dit4dit_ros.g1.joints import JOINT_INDEX, joint_indices

TIME_SOURCES = ("header", "receive")
LOG = logging.getLogger(__name__)


class BagContentError(ValueError):
    """The bag lacks a stream, a joint, or has unusable messages; the message says which."""


@dataclass
class TimeSeries:
    """Samples of a vector signal: times_ns (N,) int64 strictly increasing, values (N, D) float64."""

    times_ns: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.times_ns.size)


def header_stamp_ns(data: bytes | memoryview) -> int:
    """header.stamp of a CDR message whose first field is a std_msgs/Header (little-endian CDR)."""
    if bytes(data[1:2]) != b"\x01":
        raise BagContentError("only little-endian CDR is supported")
    sec, nsec = struct.unpack_from("<iI", data, 4)
    return sec * 1_000_000_000 + nsec


def _rgb(msg) -> np.ndarray:
    """A sensor_msgs/Image (rosbags object) as (H, W, 3) uint8 RGB."""
    h, w, step, enc = int(msg.height), int(msg.width), int(msg.step), str(msg.encoding)
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc)
    if channels is None:
        raise BagContentError(f"image encoding {enc!r} not supported; expected rgb8, bgr8, rgba8, bgra8 or mono8")
    rows = np.frombuffer(msg.data, np.uint8)
    if rows.size < h * step or step < w * channels:
        raise BagContentError(f"image {w}x{h} {enc}: data has {rows.size} bytes, step {step}")
    img = rows[: h * step].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    if enc in ("bgr8", "bgra8"):
        return np.ascontiguousarray(img[:, :, 2::-1])
    return np.ascontiguousarray(img[:, :, :3])


class EpisodeBag:
    """A rosbag2 episode directory opened for export (read-only)."""

    def __init__(self, path: Path | str, time_source: str = "header") -> None:
        self.path = Path(path)
        if time_source not in TIME_SOURCES:
            raise ValueError(f"time_source {time_source!r}; expected one of {TIME_SOURCES}")
        self.time_source = time_source
        if not (self.path / "metadata.yaml").is_file():
            raise BagContentError(f"{self.path} is not a rosbag2 bag directory (no metadata.yaml)")
        self._typestore = recording_typestore()
        self._channels: dict[str, tuple[str, ...]] = {}
        with Reader(self.path) as reader:
            self.topics: dict[str, tuple[str, int]] = {}
            for c in reader.connections:
                _, count = self.topics.get(c.topic, (c.msgtype, 0))
                self.topics[c.topic] = (c.msgtype, count + c.msgcount)
        try:
            self.info: EpisodeInfo | None = EpisodeStore.read_info(self.path)
        except (OSError, ValueError):
            self.info = None

    def _require(self, topic: str, types: Sequence[str]) -> str:
        if topic not in self.topics:
            raise BagContentError(
                f"{self.path}: topic {topic!r} is not in the bag; it has {sorted(self.topics)} "
                "(set the topic option of the export to the right one)"
            )
        msgtype, count = self.topics[topic]
        if msgtype not in types:
            raise BagContentError(f"{self.path}: topic {topic!r} has type {msgtype}, expected one of {list(types)}")
        if count == 0:
            raise BagContentError(f"{self.path}: topic {topic!r} has no messages")
        return msgtype

    def _raw(self, topic: str) -> Iterator[tuple[int, bytes]]:
        with Reader(self.path) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            for _, t, data in reader.messages(connections=connections):
                yield t, data

    def _time(self, log_time: int, data: bytes, has_header: bool) -> int:
        if has_header and self.time_source == "header":
            return header_stamp_ns(data)
        return log_time

    def joint_series(self, topic: str, joint_names: Sequence[str]) -> TimeSeries:
        """Positions of `joint_names` (in that order) from a JointState, Unitree LowCmd or Dex3 HandCmd stream.

        JointState messages may name joints (or gripper channels) in any order or carry a subset: messages
        without all requested names are left out (and counted in a warning), e.g. /joint_states while the hands'
        state is not there yet; none with them is an error. LowCmd is indexed by G1 motor slot, HandCmd by Dex3 motor
        (the side from the topic, /dex3/<side>/cmd). Messages with non-increasing times are dropped.
        """
        msgtype = self._require(topic, (JOINT_STATE_TYPE, LOWCMD_TYPE, HANDCMD_TYPE))
        missing = [n for n in joint_names if n not in self.channels_of(topic)] if msgtype != JOINT_STATE_TYPE else []
        if missing:
            raise BagContentError(f"{self.path}: {topic} ({msgtype}) does not carry {missing}; it carries "
                                  f"{list(self.channels_of(topic))}")
        times: list[int] = []
        rows: list[np.ndarray] = []
        if msgtype == LOWCMD_TYPE:
            slots = joint_indices(list(joint_names))
            for t, data in self._raw(topic):
                times.append(t)
                rows.append(lowcmd_from_cdr(data).q[slots])
        elif msgtype == HANDCMD_TYPE:
            order = {n: i for i, n in enumerate(self.channels_of(topic))}
            slots = np.array([order[n] for n in joint_names], dtype=np.int64)
            for t, data in self._raw(topic):
                try:
                    q = handcmd_q_from_cdr(data)
                except ValueError as exc:
                    raise BagContentError(f"{self.path}: {topic}: {exc}") from None
                if q.size <= slots.max(initial=-1):
                    raise BagContentError(f"{self.path}: a {topic} message has {q.size} motors, expected 7")
                times.append(t)
                rows.append(q[slots])
        else:
            index_cache: dict[tuple[str, ...], np.ndarray | None] = {}
            skipped, total = 0, 0
            for log_t, data in self._raw(topic):
                msg = self._typestore.deserialize_cdr(data, JOINT_STATE_TYPE)
                key = tuple(msg.name)
                total += 1
                if key not in index_cache:
                    lookup = {n: i for i, n in enumerate(key)}
                    found = all(n in lookup for n in joint_names)
                    index_cache[key] = np.array([lookup[n] for n in joint_names], np.int64) if found else None
                idx = index_cache[key]
                if idx is None:  # e.g. /joint_states before the hands' state arrived: not a sample of these joints
                    skipped += 1
                    continue
                if len(msg.position) != len(key):
                    raise BagContentError(
                        f"{self.path}: a {topic} message has {len(key)} names but {len(msg.position)} positions"
                    )
                times.append(self._time(log_t, data, True))
                rows.append(np.asarray(msg.position, dtype=np.float64)[idx])
            if not rows:
                seen = sorted({n for key in index_cache for n in key})
                missing = [n for n in joint_names if n not in seen]
                raise BagContentError(f"{self.path}: no {topic} message names all of {list(joint_names)} (never named: "
                                      f"{missing}; named: {seen})")
            if skipped:
                LOG.warning("%s: %d of %d %s messages lack some of the exported joints and are left out (the export's "
                            "gap check covers the time they span)", self.path, skipped, total, topic)
        return _monotonic(TimeSeries(np.asarray(times, np.int64), np.asarray(rows, np.float64).reshape(len(rows), -1)))

    def channels_of(self, topic: str) -> tuple[str, ...]:
        """The channel names a command/state stream carries: LowCmd the 29 G1 joints, /dex3/<side>/cmd that
        hand's 7 joints, JointState every name of any of its messages."""
        msgtype = self._require(topic, (JOINT_STATE_TYPE, LOWCMD_TYPE, HANDCMD_TYPE))
        if msgtype == LOWCMD_TYPE:
            return tuple(JOINT_INDEX)
        if msgtype == HANDCMD_TYPE:
            side = HAND_COMMAND_BAG_TOPICS.get(topic)
            if side is None:
                raise BagContentError(f"{self.path}: {topic} holds {HANDCMD_TYPE} but is not one of "
                                      f"{sorted(HAND_COMMAND_BAG_TOPICS)}: which hand it drives is unknown")
            return HAND_JOINT_NAMES[hand_side(side)]
        if topic not in self._channels:  # one pass over the stream per topic
            names: dict[str, None] = {}  # every name any message has, in first-seen order
            for _, data in self._raw(topic):
                names.update(dict.fromkeys(self._typestore.deserialize_cdr(data, JOINT_STATE_TYPE).name))
            self._channels[topic] = tuple(names)
        return self._channels[topic]

    def channel_series(self, topics: Sequence[str], names: Sequence[str]) -> list[tuple[str, TimeSeries, np.ndarray]]:
        """`names` gathered from several streams: each name from the first of `topics` that carries it.

        Returns (topic, series, columns) per stream used: the series' values are the vector's `columns`. A
        name no stream carries is a BagContentError saying what each stream has.
        """
        remaining = list(names)
        parts = []
        carried: dict[str, tuple[str, ...]] = {}
        for topic in topics:
            carried[topic] = self.channels_of(topic)
            take = [n for n in remaining if n in carried[topic]]
            if take:
                columns = np.array([list(names).index(n) for n in take], dtype=np.int64)
                parts.append((topic, self.joint_series(topic, take), columns))
                remaining = [n for n in remaining if n not in take]
        if remaining:
            hint = ""
            if any(n in ALL_GRIPPER_NAMES for n in remaining):
                hint = (f"; a gripper value is a channel of its own: record it as a JointState name "
                        f"({list(ALL_GRIPPER_NAMES)}) or export the hand joints (groups left_hand/right_hand)")
            counts = {t: len(c) for t, c in carried.items()}
            raise BagContentError(f"{self.path}: no stream of {list(topics)} carries {remaining} "
                                  f"(channels per stream: {counts}){hint}")
        return parts

    def image_times(self, topic: str) -> np.ndarray:
        """Capture times (ns) of every image of `topic`, in bag order."""
        self._require(topic, (IMAGE_TYPE,))
        return np.asarray([self._time(t, data, True) for t, data in self._raw(topic)], np.int64)

    def image_size(self, topic: str) -> tuple[int, int]:
        """(height, width) of the first image of `topic`."""
        self._require(topic, (IMAGE_TYPE,))
        for _, data in self._raw(topic):
            msg = self._typestore.deserialize_cdr(data, IMAGE_TYPE)
            return int(msg.height), int(msg.width)
        raise BagContentError(f"{self.path}: topic {topic!r} has no messages")

    def iter_images(self, topic: str, wanted: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """(message index, RGB frame) for the sorted message indices in `wanted`, decoding only those."""
        wanted_set = set(int(i) for i in wanted)
        last = max(wanted_set, default=-1)
        for i, (_, data) in enumerate(self._raw(topic)):
            if i > last:
                return
            if i in wanted_set:
                yield i, _rgb(self._typestore.deserialize_cdr(data, IMAGE_TYPE))

    def instructions(self, topic: str) -> list[str]:
        """Every instruction string recorded on `topic` (empty if the topic is absent)."""
        if topic not in self.topics:
            return []
        self._require(topic, (STRING_TYPE,))
        return [self._typestore.deserialize_cdr(data, STRING_TYPE).data for _, data in self._raw(topic)]


def _monotonic(series: TimeSeries) -> TimeSeries:
    """Drop samples whose time does not increase (duplicates, clock jumps back)."""
    if len(series) < 2:
        return series
    keep = np.ones(len(series), bool)
    running_max = np.maximum.accumulate(series.times_ns)
    keep[1:] = series.times_ns[1:] > running_max[:-1]
    return TimeSeries(series.times_ns[keep], series.values[keep])
