"""Measurements behind `dit4dit bench executor`: the cost of one ExecutorCore tick in a closed loop with
arm chunks arriving at the policy rate, and the timing of the 500 Hz thread running real ticks."""
from __future__ import annotations

import threading
import time

import numpy as np

from dit4dit_ros.control.chunk import ActionChunk
from dit4dit_ros.control.config import ExecutorConfig, SchedulerConfig, WatchdogConfig
from dit4dit_ros.control.executor import ExecutorCore
from dit4dit_ros.control.plant import LagPlant
from dit4dit_ros.control.rate import PeriodicThread
from dit4dit_ros.g1.joints import ARMS, WAIST, joint_indices
from dit4dit_ros.utils.realtime import RealtimeConfig, TickGc

_JOINTS = WAIST + ARMS


def _chunk(rng: np.random.Generator, q: np.ndarray, now: float, horizon: int) -> ActionChunk:
    idx = joint_indices(_JOINTS)
    pos = q[idx] + np.cumsum(rng.normal(0, 0.01, size=(horizon, idx.size)), axis=0)
    return ActionChunk.uniform(_JOINTS, pos, stamp=now - 0.15, period=1 / 30)


def _core(ensemble: bool, gravity=None) -> ExecutorCore:
    return ExecutorCore(
        ExecutorConfig(
            soft_start_time=0.1,
            gravity_compensation=gravity is not None,
            scheduler=SchedulerConfig(ensemble=ensemble),
            watchdog=WatchdogConfig(input_timeout=5.0, hold_timeout=5.0, state_timeout=1.0),
        ),
        gravity=gravity,
    )


def bench_ticks(seconds: float, chunk_rate: float, horizon: int, ensemble: bool, seed: int = 0,
                gravity=None) -> dict:
    """Time ExecutorCore.tick (and submit_chunk) in simulated time against a lagging plant (`gravity`: a
    gravity model for the feed-forward torque, or None)."""
    rng = np.random.default_rng(seed)
    core = _core(ensemble, gravity)
    plant = LagPlant(tau=0.01)
    dt = core.cfg.tick_period
    now = 100.0
    core.tick(now, plant.state(now))
    core.enable(now)
    tick_times, submit_times = [], []
    next_chunk = now + 0.12
    for _ in range(int(seconds / dt)):
        now += dt
        if now >= next_chunk and core.mode.value in ("RUNNING", "HOLD"):
            chunk = _chunk(rng, plant.q, now, horizon)
            t0 = time.perf_counter()
            core.submit_chunk(chunk, now)
            submit_times.append(time.perf_counter() - t0)
            next_chunk = now + 1.0 / chunk_rate
        state = plant.state(now)
        t0 = time.perf_counter()
        cmd = core.tick(now, state)
        tick_times.append(time.perf_counter() - t0)
        plant.step(cmd, dt)
    t = np.array(tick_times) * 1e6
    s = np.array(submit_times or [np.nan]) * 1e6
    return {
        "ticks": int(t.size),
        "tick_p50_us": float(np.percentile(t, 50)),
        "tick_p99_us": float(np.percentile(t, 99)),
        "tick_max_us": float(t.max()),
        "submit_p50_us": float(np.nanpercentile(s, 50)),
        "submit_max_us": float(np.nanmax(s)),
        "final_mode": core.mode.value,
    }


def bench_gravity_model(model, n: int = 2000, seed: int = 0) -> dict:
    """Cost of one GravityModel call (g(q) of the 29 motors) at random poses."""
    from dit4dit_ros.g1.joints import limits_array

    rng = np.random.default_rng(seed)
    poses = rng.uniform(limits_array("position_min"), limits_array("position_max"), size=(n, 29))
    times = []
    for q in poses:
        t0 = time.perf_counter()
        model(q)
        times.append(time.perf_counter() - t0)
    t = np.array(times) * 1e6
    return {"calls": n, "p50_us": float(np.percentile(t, 50)), "p99_us": float(np.percentile(t, 99)),
            "max_us": float(t.max())}


def bench_wire(n: int = 500) -> dict:
    """What the node adds per tick around the core: LowCmd_ building (+CRC) and its CDR serialisation by
    cyclonedds-python (what DataWriter.write does before handing bytes to DDS), and LowState_ decoding."""
    from dit4dit_ros.g1.lowcmd import ControlPath, MotorCommand, build_lowcmd
    from dit4dit_ros.g1.lowstate import fill_lowstate, new_lowstate, parse_lowstate

    q = np.zeros(29)
    cmd = MotorCommand.hold(q)
    state = fill_lowstate(new_lowstate(), q, q, q, np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3), 1, 5)
    state_bytes = state.serialize()

    def median_us(fn) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times) * 1e6)

    msg = build_lowcmd(cmd, 5, path=ControlPath.ARM_SDK, arm_sdk_weight=1.0)
    return {
        "build_lowcmd_us": median_us(lambda: build_lowcmd(cmd, 5, path=ControlPath.ARM_SDK, arm_sdk_weight=1.0)),
        "serialize_lowcmd_us": median_us(msg.serialize),
        "deserialize_lowstate_us": median_us(lambda: type(state).deserialize(state_bytes)),
        "parse_lowstate_us": median_us(lambda: parse_lowstate(state, 0.0)),
    }


def bench_thread(seconds: float, realtime: RealtimeConfig | None = None) -> dict:
    """Run real ticks in the PeriodicThread at 500 Hz for `seconds` of wall time; return its RateReport (and,
    with `realtime`, what the OS granted the thread). GC is kept out of the ticks as in the control process."""
    core = _core(False)
    plant = LagPlant(tau=0.01)
    lock = threading.Lock()
    rng = np.random.default_rng(1)
    start = time.monotonic()
    core.tick(start, plant.state(start))
    core.enable(start)
    last_chunk = [start]

    def tick(now: float) -> None:
        with lock:
            if now - last_chunk[0] > 1 / 6 and core.mode.value in ("RUNNING", "HOLD"):
                core.submit_chunk(_chunk(rng, plant.q, now, 16), now)
                last_chunk[0] = now
            cmd = core.tick(now, plant.state(now))
            plant.step(cmd, core.cfg.tick_period)

    gc_policy = TickGc()

    def tick_then_gc(now: float) -> None:
        tick(now)
        gc_policy.between_ticks()

    loop = PeriodicThread(core.cfg.tick_period, tick_then_gc, name="bench-500hz", window=int(seconds * 500) + 10,
                          realtime=realtime)
    gc_policy.freeze()
    try:
        loop.start()
        time.sleep(seconds)
        loop.stop()
    finally:
        gc_policy.restore()
    out = loop.report().as_dict()
    out["realtime"] = loop.realtime.as_dict() if loop.realtime is not None else None
    return out
