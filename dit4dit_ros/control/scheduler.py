"""Chunk scheduling: turn a stream of stamped chunks into one continuous reference trajectory.

Each chunk is placed on the executor's clock at its observation stamp: point k is meant for
stamp + times[k]. When it arrives (inference took `now - stamp`), evaluation simply starts at `now`, so the
part that elapsed during inference is never executed. From the command being executed at the last tick a
quintic seam of `blend_time` joins the new chunk's curve, matching position, velocity and acceleration at
both ends. Starting the seam from the *emitted* (already safety-filtered) command rather than from the
previous plan keeps the reference continuous with what the robot was actually told, even after clipping.

Joints belong to the segment of the newest chunk that commanded them; the caller can exclude joints (those
under teleop control) from a chunk.

Optional ACT-style temporal ensembling: before scheduling, each point of a new policy chunk is replaced by
the weighted mean of every retained chunk's prediction for that same instant (w_i = exp(-m*i), i = 0 for
the oldest prediction); the averaged chunk then goes through the same seam, so continuity is unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk, ChunkSource, Verdict
from dit4dit_ros.control.config import SchedulerConfig
from dit4dit_ros.control.spline import CubicHermiteTrajectory, QuinticSeam
from dit4dit_ros.g1.joints import NUM_JOINTS, joint_indices

_MAX_ENSEMBLE_HISTORY = 32


@dataclass
class _Segment:
    joints: np.ndarray  # motor indices (n,)
    seam: QuinticSeam
    trajectory: CubicHermiteTrajectory
    source: ChunkSource
    active: np.ndarray = field(init=False)  # which of `joints` this segment still owns
    _sel: np.ndarray = field(init=False)
    _idx: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.active = np.ones(self.joints.size, dtype=bool)
        self._refresh()

    def _refresh(self) -> None:
        self._sel = np.flatnonzero(self.active)
        self._idx = self.joints[self._sel]

    def release(self, motor_indices: np.ndarray) -> None:
        """Give up the given joints (a newer segment took them)."""
        taken = np.isin(self.joints, motor_indices)
        if taken.any():
            self.active &= ~taken
            self._refresh()

    @property
    def empty(self) -> bool:
        return self._sel.size == 0

    def write(self, t: float, q_out: np.ndarray, v_out: np.ndarray) -> None:
        piece = self.seam if t < self.seam.end else self.trajectory
        p, v, _ = piece.evaluate(t)
        q_out[self._idx] = p[self._sel]
        v_out[self._idx] = v[self._sel]


@dataclass(frozen=True)
class _PastChunk:
    names: tuple[str, ...]
    trajectory: CubicHermiteTrajectory


class ChunkScheduler:
    """Holds the active trajectory segments and evaluates the reference for all joints at a time t."""

    def __init__(self, cfg: SchedulerConfig) -> None:
        self.cfg = cfg
        self._segments: list[_Segment] = []
        self._history: list[_PastChunk] = []
        self.last_latency: float = float("nan")

    def clear(self) -> None:
        """Forget every segment and the ensembling history (on enable / hold)."""
        self._segments.clear()
        self._history.clear()

    def release(self, motor_indices: np.ndarray) -> None:
        """Stop driving these joints (teleop took them)."""
        for seg in self._segments:
            seg.release(motor_indices)
        self._segments = [s for s in self._segments if not s.empty]

    @property
    def owned_mask(self) -> np.ndarray:
        mask = np.zeros(NUM_JOINTS, dtype=bool)
        for seg in self._segments:
            mask[seg._idx] = True
        return mask

    def place(
        self,
        chunk: ActionChunk,
        now: float,
        start_time: float,
        start_q: np.ndarray,
        start_v: np.ndarray,
        start_a: np.ndarray,
        exclude: np.ndarray | None = None,
    ) -> Verdict:
        """Schedule a (statically validated) chunk; the seam starts from the command state at `start_time`.

        start_q/v/a: (29,) the emitted command's position, velocity and acceleration at `start_time` (the
        last tick). exclude: (29,) bool, joints this chunk must not take (teleop). Returns a rejection Verdict
        for timing problems (too old, expired, from the future).
        """
        latency = now - chunk.stamp
        if latency > self.cfg.max_chunk_latency:
            return Verdict(False, f"chunk too old: observation {latency:.3f} s ago > max_chunk_latency {self.cfg.max_chunk_latency} s")
        if latency < -self.cfg.max_future_stamp:
            return Verdict(False, f"chunk stamped {-latency:.3f} s in the future (clock mismatch between policy and executor?)")
        abs_times = chunk.stamp + np.asarray(chunk.times, dtype=np.float64)
        if abs_times[-1] < now:
            return Verdict(False, f"chunk expired: its last point was {now - abs_times[-1]:.3f} s ago (inference slower than the chunk horizon)")
        joints = joint_indices(chunk.joint_names)
        positions = np.asarray(chunk.positions, dtype=np.float64)
        note = ""
        self.last_latency = latency
        if self.cfg.ensemble:
            positions = self._ensemble(chunk.joint_names, abs_times, positions, now)
        if exclude is not None:
            keep = ~exclude[joints]
            if not keep.all():
                if not keep.any():
                    return Verdict(True, "all joints of the chunk are under teleop control; nothing scheduled")
                note = f"{int((~keep).sum())} joint(s) under teleop control left out"
                joints, positions = joints[keep], positions[:, keep]
        blend = self.cfg.blend_time
        trajectory = CubicHermiteTrajectory(abs_times, positions)
        p1, v1, a1 = trajectory.evaluate(start_time + blend)
        seam = QuinticSeam(start_time, blend, start_q[joints], start_v[joints], start_a[joints], p1, v1, a1)
        for seg in self._segments:
            seg.release(joints)
        self._segments = [s for s in self._segments if not s.empty]
        self._segments.append(_Segment(joints, seam, trajectory, chunk.source))
        return Verdict(True, note)

    def reference(self, t: float, q_out: np.ndarray, v_out: np.ndarray) -> None:
        """Write the reference position/velocity of every joint owned by a segment; others are untouched."""
        for seg in self._segments:
            seg.write(t, q_out, v_out)

    def _ensemble(self, names: tuple[str, ...], abs_times: np.ndarray, positions: np.ndarray, now: float) -> np.ndarray:
        """ACT temporal ensembling of `positions` with the retained chunks for the same joints."""
        self._history = [c for c in self._history if c.trajectory.end >= now][-(_MAX_ENSEMBLE_HISTORY - 1):]
        past = [c for c in self._history if c.names == names]
        self._history.append(_PastChunk(names, CubicHermiteTrajectory(abs_times, positions)))
        if not past:
            return positions
        k = abs_times.size
        preds = np.empty((len(past) + 1, k, positions.shape[1]))
        cover = np.zeros((len(past) + 1, k), dtype=bool)
        for j, c in enumerate(past):
            cover[j] = (abs_times >= c.trajectory.start) & (abs_times <= c.trajectory.end)
            for i in np.flatnonzero(cover[j]):
                preds[j, i] = c.trajectory.evaluate(float(abs_times[i]))[0]
        preds[-1], cover[-1] = positions, True
        order = np.cumsum(cover, axis=0) - 1  # i = 0 for the oldest prediction covering that instant
        w = np.where(cover, np.exp(-self.cfg.ensemble_decay * order), 0.0)
        return np.einsum("ck,ckj->kj", w, np.where(cover[..., None], preds, 0.0)) / w.sum(axis=0)[:, None]
