"""Flow-matching time samplers and the Euler integrator shared by the video and action branches.

Convention (docs/method.md): t = 1 is pure noise, t = 0 is data; x_t = (1 - t) x0 + t n, and the network predicts the
velocity v = n - x0, so integrating from t = 1 down to t = 0 with x <- x - dt * v recovers data. Every sampler takes an
optional `torch.Generator` so that training and tests are reproducible.
"""
from __future__ import annotations

from typing import Callable, Optional, TypeVar

import torch
from torch import Tensor

X = TypeVar("X")  # a torch tensor or a numpy array: the integrator only needs x - dt * v
VelocityFn = Callable[[X, float], X]


def _check_batch(batch: int) -> None:
    if not isinstance(batch, int) or batch <= 0:
        raise ValueError(f"batch must be a positive int, got {batch!r}")


def sample_uniform_time(batch: int, generator: torch.Generator | None = None, device=None) -> Tensor:
    """t ~ U[0, 1): the plain flow-matching time for the video branch."""
    _check_batch(batch)
    return torch.rand(batch, generator=generator, device=device)


def sample_logit_normal_time(
    batch: int,
    mean: float = 0.0,
    std: float = 1.0,
    high_sigma_ratio: float = 0.05,
    high_sigma_min: float = 0.98,
    generator: torch.Generator | None = None,
    device=None,
) -> Tensor:
    """t = sigmoid(N(mean, std)); a fraction `high_sigma_ratio` of samples is redrawn uniformly in [high_sigma_min, 1].

    The logit-normal concentrates training on mid times; the forced high-noise fraction keeps the model good at
    t ~ 1, the time at which inference reads the video features (tau_f = 0.995).
    """
    _check_batch(batch)
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    if not 0.0 <= high_sigma_ratio <= 1.0:
        raise ValueError(f"high_sigma_ratio must be in [0, 1], got {high_sigma_ratio}")
    if not 0.0 <= high_sigma_min <= 1.0:
        raise ValueError(f"high_sigma_min must be in [0, 1], got {high_sigma_min}")
    normal = torch.randn(batch, generator=generator, device=device) * std + mean
    t = torch.sigmoid(normal)
    pick = torch.rand(batch, generator=generator, device=device) < high_sigma_ratio
    high = high_sigma_min + (1.0 - high_sigma_min) * torch.rand(batch, generator=generator, device=device)
    return torch.where(pick, high, t)


def sample_beta_time(
    batch: int,
    alpha: float = 1.5,
    beta: float = 1.0,
    scale: float = 0.999,
    generator: torch.Generator | None = None,
    device=None,
) -> Tensor:
    """t = B / scale with B ~ Beta(alpha, beta) (the GR00T/DiT4DiT action-time law, skewed towards noise).

    Beta(a, b) is drawn as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) so that a `torch.Generator` can seed it
    (torch.distributions.Beta cannot take one). Values can slightly exceed 1 (up to 1/scale), as in the original.
    """
    _check_batch(batch)
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"Beta parameters must be > 0, got alpha={alpha} beta={beta}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    x = _sample_gamma(batch, alpha, generator, device)
    y = _sample_gamma(batch, beta, generator, device)
    return (x / (x + y)) / scale


def _sample_gamma(batch: int, shape: float, generator: torch.Generator | None, device) -> Tensor:
    """Gamma(shape, 1) by Marsaglia-Tsang with a generator (torch's _standard_gamma takes none)."""
    boost = shape < 1.0
    d = (shape + 1.0 if boost else shape) - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    out = torch.empty(batch, device=device)
    filled = torch.zeros(batch, dtype=torch.bool, device=device)
    for _ in range(64):  # acceptance is > 95 % per round; 64 rounds never run out in practice
        z = torch.randn(batch, generator=generator, device=device)
        u = torch.rand(batch, generator=generator, device=device)
        v = (1.0 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-30)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-30)))
        take = ok & ~filled
        out = torch.where(take, d * v, out)
        filled |= ok
        if bool(filled.all()):
            break
    else:
        raise RuntimeError("gamma sampler did not converge")
    if boost:
        u = torch.rand(batch, generator=generator, device=device)
        out = out * u ** (1.0 / shape)
    return out


def euler_time_grid(num_steps: int) -> list[float]:
    """The start time of each Euler step from t = 1 to 0: [1, 1 - 1/N, ..., 1/N] (N=4: 1, .75, .5, .25)."""
    if not isinstance(num_steps, int) or num_steps <= 0:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    return [1.0 - i / num_steps for i in range(num_steps)]


def time_bucket_of(t: float, num_buckets: int) -> int:
    """int(t * buckets): the discretised time the action head embeds (the original's convention)."""
    return int(t * num_buckets)


def euler_integrate(velocity_fn: VelocityFn, x_init: X, num_steps: int,
                    on_step: Optional[Callable[[int], None]] = None) -> X:
    """Integrate dx/dt = v from t = 1 (noise) to t = 0 (data): x <- x - (1/N) v(x, t) at t = 1, 1 - 1/N, ...

    The one sampler loop of the project: the torch model and the ONNX Runtime / TensorRT engines all run it
    (x may be a torch tensor or a numpy array). `on_step(i)` is called after step i (stage timing).
    """
    dt = 1.0 / num_steps
    x = x_init
    for i, t in enumerate(euler_time_grid(num_steps)):
        x = x - dt * velocity_fn(x, t)
        if on_step is not None:
            on_step(i)
    return x


def flow_interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(x_t, target velocity) for data x0, noise and per-sample time t (B,): x_t = (1-t) x0 + t n, v = n - x0."""
    if x0.shape != noise.shape:
        raise ValueError(f"x0 {tuple(x0.shape)} and noise {tuple(noise.shape)} must have the same shape")
    if t.ndim != 1 or t.shape[0] != x0.shape[0]:
        raise ValueError(f"t must have shape ({x0.shape[0]},), got {tuple(t.shape)}")
    tb = t.reshape(-1, *([1] * (x0.ndim - 1))).to(x0.dtype)
    return (1.0 - tb) * x0 + tb * noise, noise - x0


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the entries where mask is 1 (padded action dims carry mask 0 and do not count)."""
    if pred.shape != target.shape or pred.shape != mask.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)} differ")
    m = mask.to(pred.dtype)
    # clamp instead of a data-dependent check: no host sync per step on a GPU; an all-zero mask gives loss 0
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)
