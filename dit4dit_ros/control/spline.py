"""Trajectory pieces evaluated at 500 Hz: a piecewise cubic Hermite through chunk points and a quintic seam.

Why these choices (numpy only, no scipy in the stack):
- Chunk points come at the dataset's control period (~30 Hz); between them the executor needs a curve with
  continuous velocity. A cubic Hermite with three-point finite-difference tangents (the derivative of the
  parabola through neighbouring points, valid for non-uniform times) is local, cheap, and never rings like a
  global spline can on a jumpy chunk.
- The LAST tangent is zero: a chunk ends at rest, so running out of chunks holds the last point without a
  velocity step.
- Between the command being executed and a new chunk a quintic Hermite matches position, velocity AND
  acceleration at both ends, so the seam has no step in position or velocity (and no acceleration step).
All evaluations return (position, velocity, acceleration) arrays over the joints.
"""
from __future__ import annotations

import numpy as np


class CubicHermiteTrajectory:
    """Piecewise cubic Hermite through (t_k, y_k), t absolute seconds, y (K, J).

    Outside [t_0, t_{K-1}]: before the start it extrapolates linearly along the first tangent (short, only
    for chunks stamped slightly ahead); after the end it holds the last point at zero velocity.
    """

    def __init__(self, times: np.ndarray, values: np.ndarray) -> None:
        t = np.asarray(times, dtype=np.float64)
        y = np.asarray(values, dtype=np.float64)
        if y.ndim != 2 or t.shape != (y.shape[0],) or y.shape[0] < 1:
            raise ValueError(f"CubicHermiteTrajectory: times {t.shape} and values {y.shape} must be (K,) and (K, J), K >= 1")
        if t.size > 1 and not np.all(np.diff(t) > 0):
            raise ValueError("CubicHermiteTrajectory: times must be strictly increasing")
        self.times = t
        self.values = y
        k = t.size
        m = np.zeros_like(y)
        if k > 1:
            h = np.diff(t)[:, None]  # (K-1, 1)
            d = np.diff(y, axis=0) / h  # secant slopes (K-1, J)
            m[0] = d[0]
            if k > 2:
                h0, h1 = h[:-1], h[1:]
                m[1:-1] = (h1 * d[:-1] + h0 * d[1:]) / (h0 + h1)
            # m[-1] stays 0: the chunk ends at rest.
            m0, m1 = m[:-1], m[1:]
            self._c0 = y[:-1]
            self._c1 = m0
            self._c2 = (3 * d - 2 * m0 - m1) / h
            self._c3 = (m0 + m1 - 2 * d) / h**2
        self.tangents = m

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    @property
    def num_joints(self) -> int:
        return self.values.shape[1]

    def evaluate(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times = self.times
        if t >= times[-1]:
            z = np.zeros(self.values.shape[1])
            return self.values[-1].copy(), z, z.copy()
        if t <= times[0]:
            m = self.tangents[0]
            return self.values[0] + m * (t - times[0]), m.copy(), np.zeros_like(m)
        i = int(np.searchsorted(times, t, side="right")) - 1
        s = t - times[i]
        c1, c2, c3 = self._c1[i], self._c2[i], self._c3[i]
        p = self._c0[i] + s * (c1 + s * (c2 + s * c3))
        v = c1 + s * (2 * c2 + 3 * s * c3)
        a = 2 * c2 + 6 * s * c3
        return p, v, a


class QuinticSeam:
    """Quintic from (p0, v0, a0) at t0 to (p1, v1, a1) at t0 + duration; time is clamped to that interval."""

    def __init__(self, t0: float, duration: float, p0, v0, a0, p1, v1, a1) -> None:
        if not duration > 0:
            raise ValueError(f"QuinticSeam duration must be positive, got {duration}")
        T = float(duration)
        p0, v0, a0, p1, v1, a1 = (np.asarray(x, dtype=np.float64) for x in (p0, v0, a0, p1, v1, a1))
        dp = p1 - p0
        self.t0 = float(t0)
        self.duration = T
        self._c = np.stack(
            [
                p0,
                v0,
                0.5 * a0,
                (20 * dp - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T**2) / (2 * T**3),
                (-30 * dp + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T**2) / (2 * T**4),
                (12 * dp - 6 * (v1 + v0) * T - (a0 - a1) * T**2) / (2 * T**5),
            ]
        )  # (6, J)
        self._end = (p1, v1, a1)

    @property
    def end(self) -> float:
        return self.t0 + self.duration

    def evaluate(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = min(max(t - self.t0, 0.0), self.duration)
        c0, c1, c2, c3, c4, c5 = self._c
        p = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
        v = c1 + s * (2 * c2 + s * (3 * c3 + s * (4 * c4 + s * 5 * c5)))
        a = 2 * c2 + s * (6 * c3 + s * (12 * c4 + s * 20 * c5))
        return p, v, a
