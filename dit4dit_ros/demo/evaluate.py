"""Closed-loop evaluation of a policy checkpoint on seeded simulator episodes, with a Wilson 95 % interval.

`--mode direct` (evaluate_direct): simulator + TorchEngine + ExecutorCore in one process, lock-stepped
(demo/runner.py): every `replan_every` frames the engine predicts a chunk from the current ego image and arm
joints, the executor blends it in, physics runs on. Inference time does not advance simulation time.
An episode succeeds when the task reports success without a break for `hold_time` of simulation time
(SuccessHold, the same rule in both modes; the reach task: the right palm within 6 cm of the cube centre for
0.5 s, i.e. 6 consecutive 10 Hz samples), so an arm that flails through the cube does not count; the
final-frame success is reported too.

`--blind` feeds a constant mid-grey image instead of the camera (same model, same seeds): the baseline that
shows how much the policy relies on vision (the cube position is only visible in the image).

`--mode graph` runs the same episodes through the ROS graph (`dit4dit run`); see `evaluate_graph`.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)
BLIND_GREY = 128
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


@dataclass
class EvalResult:
    task: str
    mode: str
    blind: bool
    checkpoint: str
    episodes: list[EpisodeResult] = field(default_factory=list)
    wall_seconds: float = 0.0

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

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {"task": self.task, "mode": self.mode, "blind": self.blind, "checkpoint": self.checkpoint,
                "successes": self.successes, "episodes": len(self.episodes), "rate": self.rate,
                "wilson95": [lo, hi], "wall_seconds": self.wall_seconds,
                "per_episode": [asdict(e) for e in self.episodes]}


class _VideoSink:
    """Eval rollouts as one mp4 (episodes one after another), frames upscaled for viewing."""

    def __init__(self, path: Path | str, image_size: tuple[int, int], fps: int, scale: int = 4) -> None:
        from dit4dit_ros.data.video import VideoEncoder

        h, w = image_size
        self.scale = scale
        self.encoder = VideoEncoder(path, w * scale, h * scale, fps, crf=20, gop=fps)

    def write(self, image: np.ndarray, success: bool) -> None:
        big = np.repeat(np.repeat(image, self.scale, axis=0), self.scale, axis=1)
        if success:  # a green bar at the top once the task reports success
            big = big.copy()
            big[: 2 * self.scale] = (0, 200, 0)
        self.encoder.write(np.ascontiguousarray(big))

    def close(self) -> None:
        self.encoder.close()


def evaluate_direct(checkpoint: str | Path, task: str = "reach", seeds: Sequence[int] = range(DEFAULT_EVAL_SEED, DEFAULT_EVAL_SEED + 20),
                    blind: bool = False, replan_every: int = 4, duration: float = 5.0, hold_time: float = 0.5,
                    video_path: str | Path | None = None, video_episodes: int = 4, engine: Any = None,
                    progress: bool = False) -> EvalResult:
    """Seeded closed-loop rollouts in process (see module docstring)."""
    from dit4dit_ros.demo.runner import RunnerConfig, SimEpisodeRunner
    from dit4dit_ros.g1.joints import ARMS

    if replan_every < 1:
        raise ValueError(f"replan_every must be >= 1 frame, got {replan_every}")
    if engine is None:
        from dit4dit_ros.engine.torch_engine import TorchEngine

        engine = TorchEngine(str(checkpoint), device="cpu", seed=0)
    if tuple(engine.state_joint_names) != ARMS or tuple(engine.action_joint_names) != ARMS:
        raise ValueError(f"the demo runner drives the 14 arm joints {list(ARMS)}; the checkpoint's layout has state "
                         f"{list(engine.state_joint_names)} and action {list(engine.action_joint_names)}")
    fps = 1.0 / engine.control_period
    if not math.isclose(fps, round(fps), rel_tol=1e-6):
        raise ValueError(f"checkpoint control period {engine.control_period} s is not 1/integer fps")
    fps = int(round(fps))
    if engine.num_cond_frames != 1:
        raise ValueError(f"direct evaluation feeds one frame per prediction; the model wants {engine.num_cond_frames}")
    if replan_every > engine.horizon:
        raise ValueError(f"replan_every {replan_every} is longer than the chunk ({engine.horizon} points)")
    runner = SimEpisodeRunner(RunnerConfig(task=task, fps=fps, image_size=tuple(engine.image_size)))
    instruction = runner.instruction
    engine.check_instruction(instruction)
    grey = np.full((*engine.image_size, 3), BLIND_GREY, dtype=np.uint8)
    frames = int(round(duration * fps))
    result = EvalResult(task=task, mode="direct", blind=blind, checkpoint=str(checkpoint))
    video = _VideoSink(video_path, tuple(engine.image_size), fps) if video_path else None
    start = time.perf_counter()
    distance_key = "hand_cube_distance"
    try:
        for n, seed in enumerate(seeds):
            obs = runner.reset(int(seed))
            hold, best, inference = SuccessHold(hold_time), np.inf, []
            for k in range(frames):
                if k % replan_every == 0:
                    image = grey if blind else obs.image
                    out = engine.predict([image], obs.arm_q, instruction)
                    inference.append(out.timings.get("total", 0.0))
                    verdict = runner.submit(out.actions)
                    if not verdict:
                        raise RuntimeError(f"seed {seed}: the executor rejected the policy chunk: {verdict.reason}")
                if video is not None and n < video_episodes:
                    video.write(obs.image, hold.first is not None)
                obs = runner.advance()
                hold.update(obs.time, obs.status.success)
                best = min(best, float(obs.status.metrics.get(distance_key, np.inf)))
            final = float(obs.status.metrics.get(distance_key, np.nan))
            success = hold.first is not None
            episode = EpisodeResult(int(seed), success, bool(obs.status.success), round(best, 4), round(final, 4),
                                    frames, hold.first, float(np.mean(inference)) if inference else 0.0,
                                    episode_time=round(float(obs.time), 3))
            result.episodes.append(episode)
            if progress:
                print(f"seed {seed}: {'success' if success else 'failure'}  min distance {best:.3f} m  "
                      f"final {final:.3f} m  inference {1e3 * episode.inference_seconds:.0f} ms/chunk", flush=True)
    finally:
        if video is not None:
            video.close()
        runner.close()
    result.wall_seconds = time.perf_counter() - start
    return result


def evaluate_graph(checkpoint: str | Path, task: str = "reach", seeds: Sequence[int] = (), blind: bool = False,
                   config: str | Path | None = None, replan_every: int = 4, duration: float = 5.0,
                   hold_time: float = 0.5, video_path: str | Path | None = None, video_episodes: int = 4,
                   progress: bool = False, num_threads: int = 0, log_dir: str | Path | None = None) -> EvalResult:
    """The same rollouts through the ROS graph (`dit4dit run` + config/g1_sim.yaml): bringup/graph_eval.py.

    Differences from direct mode that remain: the executor node compensates the waist's gravity with a
    feed-forward torque (direct mode offsets the waist targets), and the sim node renders with its own camera
    settings (skybox on); the policy gets the camera at the model's image size and one frame per replan.
    `num_threads` (0: torch's default) is the policy node's; `log_dir` keeps every node's log (default: a
    temporary directory, deleted).
    """
    from dit4dit_ros.bringup.graph_eval import evaluate_graph as run_graph_evaluation

    return run_graph_evaluation(checkpoint, task=task, seeds=seeds, blind=blind, config=config, duration=duration,
                                hold_time=hold_time, replan_every=replan_every, video_path=video_path,
                                video_episodes=video_episodes, progress=progress, num_threads=num_threads,
                                log_dir=log_dir)
