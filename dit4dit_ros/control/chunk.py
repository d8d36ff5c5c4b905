"""Action chunks: a short joint trajectory stamped with the time of the observation it was computed from.

A chunk is validated once, when it arrives, and rejected with a human-readable reason (never raised into the
500 Hz loop): NaN/inf, shapes that do not match the joint names, unknown or uncontrollable joints, times
that are not increasing. Out-of-limit positions are NOT a rejection: the safety filter clips them, so a
slightly optimistic policy still runs and the clipping shows in the diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from dit4dit_ros.g1.joints import JOINT_INDEX


class ChunkSource(str, Enum):
    POLICY = "policy"
    TELEOP = "teleop"


@dataclass(frozen=True)
class ActionChunk:
    """H joint-position targets for `joint_names`.

    stamp: observation time on the executor's clock (s).
    times: (H,) offsets of each point from `stamp` (s), strictly increasing (ROS: points[k].time_from_start).
    positions: (H, J) radians, columns in `joint_names` order.
    No validation here (construction must not raise on bad robot input); call `validate_chunk`.
    """

    joint_names: tuple[str, ...]
    stamp: float
    times: np.ndarray
    positions: np.ndarray
    source: ChunkSource = ChunkSource.POLICY

    @staticmethod
    def uniform(
        joint_names: "tuple[str, ...] | list[str]",
        positions: np.ndarray,
        stamp: float,
        period: float,
        first_offset: float = 0.0,
        source: ChunkSource = ChunkSource.POLICY,
    ) -> "ActionChunk":
        """A chunk whose point k is meant for time stamp + first_offset + k*period (the dataset control period)."""
        positions = np.asarray(positions, dtype=np.float64)
        h = positions.shape[0] if positions.ndim >= 1 else 0
        times = first_offset + period * np.arange(h, dtype=np.float64)
        return ActionChunk(tuple(joint_names), float(stamp), times, positions, source)


@dataclass(frozen=True)
class Verdict:
    """Outcome of a request to the executor (chunk, teleop, mode change): accepted, or why not."""

    accepted: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.accepted


def validate_chunk(chunk: ActionChunk, controllable: "set[str] | frozenset[str]", max_points: int) -> Verdict:
    """Static checks of a chunk (no timing). Returns a rejection Verdict naming the problem, or accepted."""
    names = chunk.joint_names
    if len(names) == 0:
        return Verdict(False, "chunk has no joint names")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        return Verdict(False, f"chunk has duplicate joint names {dup}")
    unknown = [n for n in names if n not in JOINT_INDEX]
    if unknown:
        return Verdict(False, f"chunk names unknown joint(s) {unknown}; expected G1 joint names")
    forbidden = [n for n in names if n not in controllable]
    if forbidden:
        return Verdict(False, f"chunk commands joint(s) {forbidden} that this executor does not control")
    pos = np.asarray(chunk.positions)
    times = np.asarray(chunk.times)
    if pos.ndim != 2 or pos.shape[1] != len(names):
        return Verdict(False, f"chunk positions have shape {pos.shape}; expected (H, {len(names)}) for {len(names)} joint names")
    h = pos.shape[0]
    if h < 1:
        return Verdict(False, "chunk has no points")
    if h > max_points:
        return Verdict(False, f"chunk has {h} points; at most {max_points} accepted")
    if times.shape != (h,):
        return Verdict(False, f"chunk times have shape {times.shape}; expected ({h},) (one per point)")
    if not np.issubdtype(pos.dtype, np.number) or not np.all(np.isfinite(pos)):
        bad = np.argwhere(~np.isfinite(pos.astype(np.float64)))[:3].tolist() if np.issubdtype(pos.dtype, np.number) else "non-numeric"
        return Verdict(False, f"chunk positions contain NaN/inf (point, joint) {bad}")
    if not np.all(np.isfinite(times)) or not np.isfinite(chunk.stamp):
        return Verdict(False, "chunk stamp or point times are not finite")
    if h > 1 and not np.all(np.diff(times) > 0):
        return Verdict(False, "chunk point times are not strictly increasing")
    if times[0] < 0:
        return Verdict(False, f"chunk point times must be >= 0 from the stamp, got first {times[0]}")
    return Verdict(True)


def chunk_from_points(
    joint_names: "list[str] | tuple[str, ...]",
    stamp: float,
    times_from_start: "list[float] | np.ndarray",
    points: "list[list[float]] | list[np.ndarray]",
    default_period: float,
    source: ChunkSource = ChunkSource.POLICY,
) -> "tuple[ActionChunk | None, str]":
    """An ActionChunk from JointTrajectory-like fields, or (None, reason) when they cannot form one.

    points[k] must hold one position per joint name. If every time_from_start is 0 (a publisher that does
    not fill them) and there are several points, they are spaced by `default_period`.
    """
    n = len(joint_names)
    bad = [k for k, p in enumerate(points) if len(p) != n]
    if bad:
        return None, f"trajectory point(s) {bad[:5]} have {len(points[bad[0]])} positions; expected {n} (one per joint name)"
    if stamp <= 0:
        return None, "chunk header.stamp is zero: it must be the observation time"
    positions = np.array(points, dtype=np.float64).reshape(len(points), n)
    times = np.asarray(times_from_start, dtype=np.float64)
    if times.size > 1 and not np.any(times):
        times = default_period * np.arange(times.size, dtype=np.float64)
    return ActionChunk(tuple(joint_names), float(stamp), times, positions, source), ""
