"""Chunk scheduling through ExecutorCore: time alignment under inference delay, seams without position or
velocity jumps, temporal ensembling, timing rejections."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control import (
    ActionChunk,
    ExecutorConfig,
    ExecutorCore,
    Mode,
    SafetyConfig,
    SchedulerConfig,
    WatchdogConfig,
)
from dit4dit_ros.control.plant import LagPlant, Loop
from dit4dit_ros.control.scheduler import ChunkScheduler
from dit4dit_ros.control.spline import CubicHermiteTrajectory
from dit4dit_ros.g1.joints import LEFT_ARM, joint_indices

ARM = LEFT_ARM[:4]  # shoulder pitch/roll/yaw, elbow: wide torque windows
ARM_IDX = joint_indices(ARM)
PERIOD = 0.04  # a multiple of the 2 ms tick, so chunk points fall exactly on ticks
BLEND = 0.1
# Limits far above what these trajectories need: the filter must pass the reference through unchanged.
GENEROUS = SafetyConfig(max_velocity=20.0, max_acceleration=5000.0, max_tracking_error=1.0, torque_scale=1.0)


def _running_loop(safety: SafetyConfig = GENEROUS, blend: float = BLEND, **scheduler) -> Loop:
    cfg = ExecutorConfig(
        soft_start_time=0.05,
        watchdog=WatchdogConfig(input_timeout=5.0),
        safety=safety,
        scheduler=SchedulerConfig(blend_time=blend, **scheduler),
    )
    plant = LagPlant(q=np.zeros(29), tau=0.004)
    plant.q[ARM_IDX] = [0.2, 0.3, 0.0, 0.5]
    loop = Loop(ExecutorCore(cfg), plant)
    loop.step()
    assert loop.core.enable(loop.now)
    loop.run(0.06)
    assert loop.core.mode is Mode.RUNNING
    return loop


def _motion(t: np.ndarray, phase: float = 0.0, freq: float = 0.7) -> np.ndarray:
    """A smooth arm motion (radians) sampled at absolute times t -> (len(t), 4)."""
    base = np.array([0.2, 0.3, 0.0, 0.5])
    amp = np.array([0.3, 0.2, 0.25, 0.35])
    return base + amp * np.sin(2 * np.pi * freq * (t[:, None] - 1000.0) + phase + np.arange(4))


@pytest.mark.parametrize("delay", [0.06, 0.2, 0.32])
def test_chunk_is_executed_from_its_point_at_the_inference_delay(delay):
    loop = _running_loop()
    h = 16
    t0 = loop.now - delay
    positions = _motion(t0 + PERIOD * np.arange(h))
    chunk = ActionChunk.uniform(ARM, positions, stamp=t0, period=PERIOD)
    assert loop.core.submit_chunk(chunk, loop.now)
    checked = 0
    seam_end = loop.now + BLEND
    for _ in range(int(round((h * PERIOD - delay) / loop.dt))):
        cmd = loop.step()
        k = (loop.now - t0) / PERIOD
        if loop.now > seam_end + 1e-9 and abs(k - round(k)) < 1e-6 and round(k) < h:
            # the command at t0 + k*period is the chunk's point k: the elapsed points were skipped
            np.testing.assert_allclose(cmd.q[ARM_IDX], positions[int(round(k))], atol=1e-9)
            # and not the point a delay-ignorant executor would be at
            naive = int(round(k - delay / PERIOD))
            assert np.abs(cmd.q[ARM_IDX] - positions[naive]).max() > 1e-3
            checked += 1
    assert checked >= 3


def test_timing_rejections_name_the_problem():
    loop = _running_loop()
    h = 16
    for stamp_offset, expected in ((-0.7, "expired"), (-1.5, "too old"), (0.3, "in the future")):
        t0 = loop.now + stamp_offset
        chunk = ActionChunk.uniform(ARM, _motion(t0 + PERIOD * np.arange(h)), stamp=t0, period=PERIOD)
        verdict = loop.core.submit_chunk(chunk, loop.now)
        assert not verdict and expected in verdict.reason
        assert expected in loop.core.status()["last_rejection"]


def _seam_run(loop: Loop, seed: int, n_chunks: int = 8, latency: float = 0.12, every: float = 0.16):
    """Feed disagreeing chunks (offset + phase noise) and record emitted positions and the chunk curves."""
    rng = np.random.default_rng(seed)
    h = 16
    t0 = loop.now - latency  # warm-up: join the motion first, so that every recorded seam is chunk-to-chunk
    warm_up = _motion(t0 + PERIOD * np.arange(h), freq=0.4)
    assert loop.core.submit_chunk(ActionChunk.uniform(ARM, warm_up, stamp=t0, period=PERIOD), loop.now)
    loop.run(every)
    qs, curves, seam_ticks = [], [], []
    for _ in range(n_chunks):
        t0 = loop.now - latency
        times = t0 + PERIOD * np.arange(h)
        positions = _motion(times, phase=rng.normal(0, 0.15), freq=0.4) + rng.uniform(-0.05, 0.05, size=4)
        assert loop.core.submit_chunk(ActionChunk.uniform(ARM, positions, stamp=t0, period=PERIOD), loop.now)
        curves.append(CubicHermiteTrajectory(times, positions))
        seam_ticks.append(len(qs))
        for _ in range(int(round(every / loop.dt))):
            qs.append(loop.step().q[ARM_IDX])
    return np.array(qs), curves, seam_ticks


def test_seams_have_no_position_or_velocity_jump():
    blend = 0.2
    loop = _running_loop(blend=blend)
    dt = loop.dt
    q, curves, seam_ticks = _seam_run(loop, seed=3)
    v = np.diff(q, axis=0) / dt
    dv = np.abs(np.diff(v, axis=0))
    # What the trajectories themselves imply: the chunks' own speed/acceleration, plus moving the
    # disagreement between consecutive chunks (offset dp, velocity dv) within one blend window.
    # (the last interval of a chunk, where it comes to rest, is never reached: the next chunk takes over)
    grid = loop.now - 2.0 + dt * np.arange(1000)
    v_traj = max(np.abs(c.evaluate(t)[1]).max() for c in curves for t in grid if c.start <= t <= c.end - PERIOD)
    a_traj = max(np.abs(c.evaluate(t)[2]).max() for c in curves for t in grid if c.start <= t <= c.end - PERIOD)
    t_first = loop.now - dt * len(q)
    dps, dvs = [], []
    for c, tick in zip(curves, seam_ticks):
        tick = max(tick, 2)
        t = t_first + dt * tick
        p_new, v_new, _ = c.evaluate(t)
        dps.append(np.abs(p_new - q[tick - 1]).max())
        dvs.append(np.abs(v_new - v[tick - 2]).max())
    dp, dvel = max(dps), max(dvs)
    assert dp > 0.02 and dvel > 0.05  # the chunks really disagree at the seams
    v_bound = v_traj + 2.0 * dp / blend + dvel
    a_bound = a_traj + 6.0 * dp / blend**2 + 4.0 * dvel / blend
    assert np.abs(v).max() <= v_bound
    assert dv.max() <= a_bound * dt
    # The same chunks switched over without a seam would jump: the bounds above do detect jumps.
    naive_step = dp  # the position step an instant switch makes at the worst seam
    assert naive_step > 5 * v_bound * dt
    assert dvel > 5 * a_bound * dt


def test_ensembling_averages_overlapping_predictions_with_act_weights():
    decay = 0.5
    sched = ChunkScheduler(SchedulerConfig(blend_time=BLEND, ensemble=True, ensemble_decay=decay))
    zero = np.zeros(29)
    values = [0.1, 0.4, -0.2]
    t = 50.0
    for i, c in enumerate(values):
        stamp = t + 0.1 * i
        chunk = ActionChunk.uniform(ARM, np.full((16, 4), c), stamp=stamp, period=PERIOD)
        assert sched.place(chunk, now=stamp, start_time=stamp, start_q=zero, start_v=zero, start_a=zero)
    q, v = np.zeros(29), np.zeros(29)
    sched.reference(t + 0.45, q, v)
    w = np.exp(-decay * np.arange(3))
    np.testing.assert_allclose(q[ARM_IDX], np.dot(w, values) / w.sum(), atol=1e-12)


def test_ensembled_execution_is_continuous_too():
    loop = _running_loop(ensemble=True, ensemble_decay=0.01)
    dt = loop.dt
    q, curves, _ = _seam_run(loop, seed=4)
    v = np.diff(q, axis=0) / dt
    dv = np.abs(np.diff(v, axis=0))
    # ensembling averages the disagreement away: smaller steps than any unblended switch would make
    assert np.abs(v).max() < 5.0
    assert dv.max() / dt < 200.0
