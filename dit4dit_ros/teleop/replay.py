"""Replay the joint commands of a recorded episode as teleop targets, with their recorded timing.

Why replay through teleop rather than straight to the robot: a replayed demonstration then passes the same
executor checks as any live input (limits, velocity/acceleration caps, e-stop), which makes replay a safe way
to check a recording, a calibration or the executor itself on the robot.

Times: sample i is due `(t_i - t_0) / speed` seconds after the start (t from the bag: header stamps of
JointState commands, log times of Unitree LowCmd; see data/bag_reader.py). Only joints the executor may
command are replayed (`allowed`, default waist + arms): a recording of all 29 joints would otherwise be
refused as a whole on rt/arm_sdk.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit4dit_ros.data.bag_reader import BagContentError, EpisodeBag
from dit4dit_ros.data.topics import COMMAND_TOPIC, JOINT_STATE_TYPE, LOWCMD_TYPE, recording_typestore
from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, WAIST
from dit4dit_ros.teleop.target import TeleopTarget


@dataclass(frozen=True)
class ReplayConfig:
    topic: str = COMMAND_TOPIC  # JointState commands, or /lowcmd, /arm_sdk (Unitree LowCmd), or the teleop topic
    joint_names: tuple[str, ...] | None = None  # None = the recorded joints that are in `allowed`
    allowed: tuple[str, ...] = WAIST + ARMS
    speed: float = 1.0  # playback speed factor
    time_source: str = "header"  # or "receive" (the bag's log time)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"replay speed must be > 0, got {self.speed}")
        if self.joint_names is not None:
            object.__setattr__(self, "joint_names", tuple(self.joint_names))
            if not self.joint_names:
                raise ValueError("replay joint_names must not be empty (use None for the recorded joints)")


def recorded_joint_names(bag: EpisodeBag, topic: str) -> tuple[str, ...]:
    """The joint names of the first message of `topic` (all 29 G1 joints for a Unitree LowCmd stream)."""
    from rosbags.rosbag2 import Reader

    msgtype = bag.topics.get(topic, (None, 0))[0]
    if msgtype == LOWCMD_TYPE:
        return JOINT_NAMES
    if msgtype != JOINT_STATE_TYPE:
        raise BagContentError(f"{bag.path}: topic {topic!r} is {msgtype or 'not in the bag'}; expected "
                              f"{JOINT_STATE_TYPE} or {LOWCMD_TYPE} (topics: {sorted(bag.topics)})")
    with Reader(bag.path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for _, _, data in reader.messages(connections=connections):
            return tuple(recording_typestore().deserialize_cdr(data, JOINT_STATE_TYPE).name)
    raise BagContentError(f"{bag.path}: topic {topic!r} has no messages")


class ReplaySource:
    """The recorded command targets of one bag, as (offset s, TeleopTarget) in recorded order."""

    def __init__(self, bag_dir: Path | str, config: ReplayConfig | None = None) -> None:
        self.config = cfg = config or ReplayConfig()
        bag = EpisodeBag(bag_dir, time_source=cfg.time_source)
        if cfg.joint_names is None:
            names = tuple(n for n in recorded_joint_names(bag, cfg.topic) if n in cfg.allowed)
            if not names:
                raise BagContentError(f"{bag.path}: {cfg.topic} commands no joint in {list(cfg.allowed)}")
        else:
            names = cfg.joint_names
        series = bag.joint_series(cfg.topic, names)  # raises BagContentError naming what is missing
        if len(series) == 0:
            raise BagContentError(f"{bag.path}: topic {cfg.topic!r} has no usable samples")
        self.path = bag.path
        self.joint_names = names
        self.values = series.values
        self.offsets = (series.times_ns - series.times_ns[0]) * 1e-9 / cfg.speed  # s after the start
        self._next = 0

    def __len__(self) -> int:
        return int(self.offsets.size)

    @property
    def duration(self) -> float:
        return float(self.offsets[-1])

    def index_at(self, elapsed: float) -> int:
        """Index of the newest sample due `elapsed` s after the start (-1 before the first)."""
        return int(np.searchsorted(self.offsets, elapsed, side="right")) - 1

    def target(self, index: int) -> TeleopTarget:
        return TeleopTarget(self.joint_names, self.values[index])

    def target_at(self, elapsed: float) -> TeleopTarget | None:
        """The recorded target in force `elapsed` s after the start (held after the last; None before)."""
        i = self.index_at(elapsed)
        return None if i < 0 else self.target(i)

    def due(self, elapsed: float) -> list[tuple[int, TeleopTarget]]:
        """Samples that became due since the previous call, in recorded order (each returned once)."""
        end = self.index_at(elapsed) + 1
        out = [(i, self.target(i)) for i in range(self._next, end)]
        self._next = max(self._next, end)
        return out

    def finished(self, elapsed: float) -> bool:
        return elapsed >= self.duration and self._next >= len(self)

    def rewind(self) -> None:
        self._next = 0
