"""Flow-matching samplers (seeded statistics) and the Euler integrator."""
from __future__ import annotations

import math

import pytest
import torch

from dit4dit_ros.model.flow_matching import (
    euler_integrate,
    euler_time_grid,
    flow_interpolate,
    masked_mse,
    sample_beta_time,
    sample_logit_normal_time,
    sample_uniform_time,
)

N = 200_000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_uniform_time_moments_and_seed():
    t = sample_uniform_time(N, generator=_gen())
    assert t.shape == (N,) and float(t.min()) >= 0 and float(t.max()) < 1
    assert abs(float(t.mean()) - 0.5) < 0.005
    assert abs(float(t.var()) - 1 / 12) < 0.002
    assert torch.equal(t, sample_uniform_time(N, generator=_gen()))


def test_beta_time_matches_beta_distribution():
    alpha, beta, scale = 1.5, 1.0, 0.999
    t = sample_beta_time(N, alpha, beta, scale, generator=_gen(1))
    b = t * scale
    assert float(b.min()) > 0 and float(b.max()) <= 1.0 + 1e-6
    mean = alpha / (alpha + beta)
    var = alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))
    assert abs(float(b.mean()) - mean) < 0.004
    assert abs(float(b.var()) - var) < 0.002
    # CDF of Beta(1.5, 1) is x^1.5
    for x in (0.2, 0.5, 0.8):
        assert abs(float((b < x).float().mean()) - x ** 1.5) < 0.005
    assert torch.equal(t, sample_beta_time(N, alpha, beta, scale, generator=_gen(1)))


def test_beta_time_small_shape_parameter():
    b = sample_beta_time(N, 0.5, 0.5, 1.0, generator=_gen(2))
    # arcsine law: CDF 2/pi asin(sqrt(x))
    for x in (0.1, 0.5, 0.9):
        assert abs(float((b < x).float().mean()) - 2 / math.pi * math.asin(math.sqrt(x))) < 0.005


def test_logit_normal_time_with_high_noise_fraction():
    t = sample_logit_normal_time(N, 0.0, 1.0, high_sigma_ratio=0.05, high_sigma_min=0.98, generator=_gen(3))
    assert float(t.min()) > 0 and float(t.max()) <= 1
    # Logit-normal(0,1) puts ~2.0 % above 0.98 (sigmoid^-1(0.98) = 3.89 -> P = 5e-5); the forced 5 % dominate.
    frac_high = float((t >= 0.98).float().mean())
    assert abs(frac_high - (0.05 + 0.95 * 5.0e-5)) < 0.003
    body = t[t < 0.98]
    logit = torch.log(body / (1 - body))
    assert abs(float(logit.mean())) < 0.01
    assert abs(float(logit.std()) - 1.0) < 0.01
    none_forced = sample_logit_normal_time(N, 0.0, 1.0, high_sigma_ratio=0.0, generator=_gen(3))
    assert float((none_forced >= 0.98).float().mean()) < 0.001


def test_euler_grid_and_exactness_on_linear_field():
    assert euler_time_grid(4) == [1.0, 0.75, 0.5, 0.25]
    # Straight path from data a to noise n has the constant velocity n - a: Euler is exact for any N.
    a = torch.randn(3, 5, generator=_gen(4))
    n = torch.randn(3, 5, generator=_gen(5))
    seen = []

    def v(x, t):
        seen.append(t)
        x_expected = (1 - t) * a + t * n
        assert torch.allclose(x, x_expected, atol=1e-6)
        return n - a

    out = euler_integrate(v, n, 4)
    assert seen == [1.0, 0.75, 0.5, 0.25]
    assert torch.allclose(out, a, atol=1e-6)


def test_euler_on_time_dependent_linear_field():
    # dx/dt = x: backward Euler-in-reverse gives x0 = x1 * (1 - 1/N)^N exactly.
    x1 = torch.ones(2)
    out = euler_integrate(lambda x, t: x, x1, 8)
    assert torch.allclose(out, x1 * (1 - 1 / 8) ** 8)


def test_flow_interpolate_and_masked_mse():
    a, n = torch.zeros(2, 3), torch.ones(2, 3)
    x_t, v = flow_interpolate(a, n, torch.tensor([0.0, 1.0]))
    assert torch.equal(x_t[0], a[0]) and torch.equal(x_t[1], n[1]) and torch.equal(v, n - a)
    pred = torch.zeros(2, 3)
    target = torch.tensor([[1.0, 1.0, 100.0], [1.0, 1.0, -50.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="t must have shape"):
        flow_interpolate(a, n, torch.tensor([0.5]))


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="batch"):
        sample_uniform_time(0)
    with pytest.raises(ValueError, match="Beta"):
        sample_beta_time(4, alpha=0.0)
    with pytest.raises(ValueError, match="high_sigma_ratio"):
        sample_logit_normal_time(4, high_sigma_ratio=1.5)
    with pytest.raises(ValueError, match="num_steps"):
        euler_time_grid(0)
