"""Interpolation pieces: the cubic Hermite through chunk points and the quintic seam."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control.spline import CubicHermiteTrajectory, QuinticSeam


def _numeric_derivative(fn, t: float, h: float = 1e-6) -> np.ndarray:
    return (fn(t + h) - fn(t - h)) / (2 * h)


def test_hermite_passes_through_points_and_has_continuous_velocity():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.02, 0.05, size=12))  # non-uniform spacing
    values = rng.normal(size=(12, 3))
    traj = CubicHermiteTrajectory(times, values)
    for k, t in enumerate(times):
        np.testing.assert_allclose(traj.evaluate(float(t))[0], values[k], atol=1e-12)
    # velocity is continuous at interior knots, and equals the numerical derivative of the position
    for t in times[1:-1]:
        left = traj.evaluate(float(t) - 1e-12)[1]
        right = traj.evaluate(float(t) + 1e-12)[1]
        np.testing.assert_allclose(left, right, atol=1e-6)
    for t in np.linspace(times[0] + 1e-3, times[-1] - 1e-3, 50):
        np.testing.assert_allclose(traj.evaluate(t)[1], _numeric_derivative(lambda s: traj.evaluate(s)[0], t), atol=1e-4)
        np.testing.assert_allclose(traj.evaluate(t)[2], _numeric_derivative(lambda s: traj.evaluate(s)[1], t), atol=1e-3)


def test_hermite_reproduces_a_parabola_inside_and_ends_at_rest():
    times = np.linspace(0.0, 1.0, 11)
    values = (2 * times**2 - times)[:, None]
    traj = CubicHermiteTrajectory(times, values)
    # three-point tangents are exact for a quadratic at interior knots
    for t in times[1:-1]:
        assert traj.evaluate(float(t))[1][0] == pytest.approx(4 * t - 1, abs=1e-9)
    p_end, v_end, _ = traj.evaluate(1.5)
    assert p_end[0] == pytest.approx(1.0) and v_end[0] == 0.0
    assert traj.evaluate(1.0 - 1e-9)[1][0] == pytest.approx(0.0, abs=1e-6)  # last tangent is zero


def test_single_point_trajectory_is_constant():
    traj = CubicHermiteTrajectory(np.array([3.0]), np.array([[0.5, -0.2]]))
    for t in (2.0, 3.0, 4.0):
        p, v, a = traj.evaluate(t)
        np.testing.assert_allclose(p, [0.5, -0.2])
        assert not v.any() and not a.any()


def test_hermite_rejects_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        CubicHermiteTrajectory(np.array([0.0, 0.0]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"\(K, J\)"):
        CubicHermiteTrajectory(np.array([0.0, 1.0]), np.zeros(2))


def test_quintic_seam_matches_both_ends_to_second_order():
    rng = np.random.default_rng(1)
    p0, v0, a0, p1, v1, a1 = (rng.normal(size=4) for _ in range(6))
    seam = QuinticSeam(10.0, 0.2, p0, v0, a0, p1, v1, a1)
    for got, want in zip(seam.evaluate(10.0), (p0, v0, a0)):
        np.testing.assert_allclose(got, want, atol=1e-9)
    for got, want in zip(seam.evaluate(10.2), (p1, v1, a1)):
        np.testing.assert_allclose(got, want, atol=1e-7)
    t = 10.07
    np.testing.assert_allclose(seam.evaluate(t)[1], _numeric_derivative(lambda s: seam.evaluate(s)[0], t), atol=1e-5)
    np.testing.assert_allclose(seam.evaluate(t)[2], _numeric_derivative(lambda s: seam.evaluate(s)[1], t), atol=1e-4)
    with pytest.raises(ValueError):
        QuinticSeam(0.0, 0.0, p0, v0, a0, p1, v1, a1)
