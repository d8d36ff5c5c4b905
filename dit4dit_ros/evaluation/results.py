"""What an evaluation measures: the success rule shared by both modes, episode and run results, the Wilson interval.

An episode succeeds when the task reports success without a break for `hold_time` of simulation time
(SuccessHold; the reach task: the right palm within 6 cm of the cube centre for 0.5 s, i.e. 6 consecutive 10 Hz
samples), so an arm that flails through the cube does not count; the final-frame success is reported too.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dit4dit_ros.nodes.chunk_delivery import LEGS, SLOW_DELIVERY_S

DEFAULT_EVAL_SEED = 100_000  # held out: collect-sim demos use small seeds (the shipped set: 3000..3301)


class SuccessHold:
    """The episode success rule of both evaluation modes: the task reported success on every status sample from
    t0 to t with t - t0 >= hold_time (simulation seconds). One rule, so that graph and direct results compare:
    they used to differ (5 frames = 0.4 s in direct, >= 0.5 s of 5 Hz samples = 0.6 s through the graph)."""

    def __init__(self, hold_time: float) -> None:
        if hold_time < 0:
            raise ValueError(f"hold_time must be >= 0 s, got {hold_time}")
        self.hold_time = float(hold_time)
        self.since: float | None = None  # start of the current unbroken success run
        self.first: float | None = None  # start of the first run that lasted hold_time

    def update(self, time_s: float, success: bool) -> bool:
        """Feed one status sample (in time order); True once the episode has succeeded."""
        if not success:
            self.since = None
        else:
            self.since = time_s if self.since is None else self.since
            if self.first is None and time_s - self.since >= self.hold_time - 1e-6:
                self.first = self.since
        return self.first is not None

    @property
    def succeeded(self) -> bool:
        return self.first is not None


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default 95 %). (0, 1) for no trials."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds where rounding would leave 1e-18
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


@dataclass
class EpisodeResult:
    seed: int
    success: bool  # task success held for hold_time (SuccessHold)
    final_success: bool
    min_distance: float
    final_distance: float
    frames: int
    first_success_time: float | None
    inference_seconds: float  # mean per chunk
    # simulation time at which the policy took control (graph: the executor's soft start ends, None if it never
    # did; direct: 0) and at which the episode ended: every episode gives the policy `duration` seconds of control
    policy_start_time: float | None = 0.0
    episode_time: float = float("nan")
    # the task's distance metric over the episode (simulation s, m) and every chunk's inference time (s): the
    # report's plots
    distance_trace: list[tuple[float, float]] = field(default_factory=list)
    inference_trace: list[float] = field(default_factory=list)
    # graph mode: each chunk's frame time, state pairing and input/output digests (policy.runner.ChunkTrace), to
    # find where two runs of the same seeds part
    chunk_trace: list[dict] = field(default_factory=list)
    video: str | None = None  # rollout video of this episode, if one was written


@dataclass
class EvalResult:
    task: str
    mode: str
    blind: bool
    checkpoint: str
    episodes: list[EpisodeResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    instruction: str = ""
    recording: str | None = None  # the Rerun recording (.rrd) of the run, if one was written
    # graph mode: how the running graph fared, as it reported at the end of the run: the executor's tick timing,
    # chunk delivery (nodes/chunk_delivery.py) and counts, and the simulated robot's counters (command stepping's
    # waits that ran out, ...). Empty in direct mode.
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def rate(self) -> float:
        return self.successes / len(self.episodes) if self.episodes else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, len(self.episodes))

    def summary(self) -> str:
        lo, hi = self.interval
        final = sum(e.final_success for e in self.episodes)
        n = len(self.episodes)
        return (f"{self.task} {self.mode}{' BLIND' if self.blind else ''}: success {self.successes}/{n} = "
                f"{self.rate:.2f} (Wilson 95% CI {lo:.2f}-{hi:.2f}); final-frame success {final}/{n}; "
                f"median min distance {np.median([e.min_distance for e in self.episodes]):.3f} m; "
                f"{self.wall_seconds:.0f} s")

    def runtime_summary(self) -> str:
        """One line of the graph's own figures (`runtime`): how late chunks reached the control process, the
        control loop's period, and how often the simulator's wait for the executor ran out; "" without them."""
        if not self.runtime:
            return ""
        executor, simulator = self.runtime.get("executor", {}), self.runtime.get("simulator", {})
        d, tick = executor.get("chunk_delivery", {}), executor.get("tick", {})
        legs = ", ".join(f"{leg} {d[f'{leg}_p50_ms']:.1f}/{d[f'{leg}_max_ms']:.1f}"
                         for leg in LEGS if f"{leg}_p50_ms" in d)
        parts = [f"chunks to the control process (p50/max ms): {legs or '-'}; "
                 f"{d.get('slow', '-')} of {d.get('chunks', '-')} slower than {SLOW_DELIVERY_S * 1e3:.0f} ms"]
        if "period_p99" in tick:
            parts.append(f"control period p99/max {1e3 * tick['period_p99']:.2f}/{1e3 * tick['period_max']:.2f} ms")
        if "command_step_timeouts" in simulator:
            parts.append(f"simulator waits for the executor run out: {simulator['command_step_timeouts']} of "
                         f"{simulator['command_step_timeouts'] + simulator.get('command_steps', 0)}")
        return "graph runtime: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {"task": self.task, "mode": self.mode, "blind": self.blind, "checkpoint": self.checkpoint,
                "instruction": self.instruction, "successes": self.successes, "episodes": len(self.episodes),
                "rate": self.rate, "wilson95": [lo, hi], "wall_seconds": self.wall_seconds,
                "recording": self.recording, "runtime": self.runtime,
                "per_episode": [asdict(e) for e in self.episodes]}
