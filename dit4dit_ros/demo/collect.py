"""Scripted-expert demonstrations generated directly in the simulator into a LeRobot v2.1 dataset.

No ROS, no DDS, no real-time pacing: physics and the ego camera are lock-stepped in one process
(demo/runner.py), so collection runs as fast as rendering allows. Per frame k (1 / fps apart):
    observation.state = measured ARMS joints (14, radians) at frame k
    action            = the expert's commanded ARMS joints for frame k's time (what the chunk's point 0 says)
    observation.images.ego_view = the ego image at frame k (fps video)
and the expert submits the next `horizon` points of its plan as a chunk, exactly as a policy would.
Episodes where the expert fails are dropped (counted), so the dataset holds successful demonstrations only.
On a robot with Dex3-1 hands (pick_place) state and action are the official G1 layout instead: ARMS plus
left_gripper and right_gripper (measured / commanded, 0 open .. 1 closed), groups OFFICIAL_G1_GROUPS.

`perturb` > 0 collects DART-style demonstrations (Laskey et al. 2017, "DART: Noise Injection for Robust Imitation
Learning"): what is *sent* is the plan plus a smooth random joint offset (an Ornstein-Uhlenbeck process, std
`perturb` rad, time constant `perturb_tau` s), what is *recorded* as the action is the clean plan. The arm, and so the
state and the image, then visit poses off the demonstrated path, labelled with the command that leads back to it.
Why: a policy trained on clean demos only never saw its own small errors; in closed loop it reads an off-path arm as
"a different cube" and wanders off after reaching (seen on the reach task: the hand got within 4 cm, then left).
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dit4dit_ros.control import Mode
from dit4dit_ros.demo.runner import RunnerConfig, SimEpisodeRunner

log = logging.getLogger(__name__)
CAMERA_KEY = "ego_view"


@dataclass
class EpisodeRecord:
    seed: int
    instruction: str
    images: list[np.ndarray]
    state: np.ndarray  # (T, 14), or (T, 16) with the grippers
    action: np.ndarray  # (T, 14), or (T, 16) with the grippers
    success: bool
    min_distance: float
    metrics: dict = field(default_factory=dict)


@dataclass
class CollectStats:
    episodes: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    failed_seeds: list[int] = field(default_factory=list)

    @property
    def episodes_per_minute(self) -> float:
        return 60.0 * self.episodes / self.seconds if self.seconds > 0 else 0.0


class JointPerturbation:
    """Ornstein-Uhlenbeck joint offsets: stationary std `std` rad, correlation time `tau` s, sampled every `period`."""

    def __init__(self, joints: int, std: float, tau: float, period: float, rng: np.random.Generator) -> None:
        if std < 0 or tau <= 0 or period <= 0:
            raise ValueError(f"perturbation needs std >= 0, tau > 0, period > 0; got {std}, {tau}, {period}")
        self.std, self.rng = float(std), rng
        self.decay = float(np.exp(-period / tau))
        self.offset = rng.normal(0.0, self.std, joints) if self.std > 0 else np.zeros(joints)

    def step(self) -> np.ndarray:
        """The offset for this frame; advances the process by one period."""
        current = self.offset.copy()
        if self.std > 0:
            self.offset = self.decay * self.offset + np.sqrt(1.0 - self.decay ** 2) * self.rng.normal(
                0.0, self.std, self.offset.shape)
        return current


def run_expert_episode(runner: SimEpisodeRunner, seed: int, horizon: int = 16, expert_config=None,
                       perturb: float = 0.0, perturb_tau: float = 0.3) -> EpisodeRecord:
    """One expert episode from `seed`: images, measured states and commanded actions at every frame.

    With `perturb` > 0 the sent chunk carries a smooth random offset and the recorded action is the clean plan (see
    the module docstring); the offset fades out over the last second so the episode still ends at the touch pose.
    """
    from dit4dit_ros.sim.experts import make_expert

    from dit4dit_ros.sim.pick_expert import PlanningError

    obs = runner.reset(seed)
    try:
        expert = make_expert(runner.config.task, runner.robot, expert_config)
    except PlanningError as exc:  # this seed's objects are out of the expert's reach: a failed demonstration
        log.warning("seed %d: %s", seed, exc)
        empty = np.zeros((0, len(obs.state)))
        return EpisodeRecord(seed, runner.instruction, [], empty, empty, False, np.inf, dict(obs.status.metrics))
    frames = int(round(expert.duration * runner.config.fps))
    period = runner.period
    images, states, actions = [], [], []
    success, best = False, np.inf
    noise = JointPerturbation(len(obs.arm_q), perturb, perturb_tau, period, np.random.default_rng([seed, 7]))
    fade_frames = max(1, int(round(1.0 / period)))
    observe = getattr(expert, "observe", None)  # closed-loop experts correct their plan from the measured hand
    for k in range(frames):
        if observe is not None:
            observe(runner.robot, obs.time)
        times = obs.time + period * np.arange(horizon)
        plan = expert.command(times)
        fade = float(np.clip((frames - fade_frames - k) / fade_frames, 0.0, 1.0))
        sent = plan + fade * noise.step()[None, :]
        if runner.has_hands:
            grips = expert.gripper(times) if hasattr(expert, "gripper") else np.zeros((horizon, 2))
            plan, sent = np.hstack([plan, grips]), np.hstack([sent, grips])
        images.append(obs.image)
        states.append(obs.state)
        actions.append(plan[0])
        verdict = runner.submit(sent)
        if not verdict and runner.core.mode not in (Mode.RUNNING, Mode.HOLD):
            # an interlock stopped the episode (e.g. the arm blocked against the table): a failed demonstration
            log.warning("seed %d: the executor left RUNNING (%s): episode failed", seed, runner.core.mode.value)
            return EpisodeRecord(seed, runner.instruction, images, np.stack(states), np.stack(actions), False, best,
                                 dict(obs.status.metrics))
        if not verdict:
            raise RuntimeError(f"seed {seed}: the executor rejected the expert's chunk: {verdict.reason}")
        obs = runner.advance()
        success = success or obs.status.success
        best = min(best, float(obs.status.metrics.get("hand_cube_distance", np.inf)))
    final_success = obs.status.success
    return EpisodeRecord(seed, runner.instruction, images, np.stack(states), np.stack(actions),
                         bool(success and final_success), best, dict(obs.status.metrics))


_worker_runner: SimEpisodeRunner | None = None  # one simulator per worker process of expert_episodes


def _worker_start(config: RunnerConfig) -> None:
    global _worker_runner
    _worker_runner = SimEpisodeRunner(config)


def _worker_episode(seed: int, horizon: int, perturb: float, perturb_tau: float) -> EpisodeRecord:
    assert _worker_runner is not None, "expert_episodes' worker was not initialised"
    return run_expert_episode(_worker_runner, seed, horizon, perturb=perturb, perturb_tau=perturb_tau)


def expert_episodes(runner: SimEpisodeRunner, seeds: Iterable[int], workers: int = 1, horizon: int = 16,
                    perturb: float = 0.0, perturb_tau: float = 0.3) -> Iterator[EpisodeRecord]:
    """Expert episodes of `seeds`, in seed order (`seeds` may be endless: stop iterating when you have enough).

    workers == 1 runs them on `runner`; more run them in that many processes, each with its own simulator built
    from `runner.config`, at most 2 episodes per worker ahead of the consumer. Every episode is a function of its
    seed alone (the simulator is reset from the seed), so the records are the same either way.
    Why: an episode is one CPU core's work (physics + rendering); a machine's other cores were idle."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        for seed in seeds:
            yield run_expert_episode(runner, seed, horizon, perturb=perturb, perturb_tau=perturb_tau)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fork of a process that already runs threads (rclpy, renderers, pytest's) may deadlock in the child
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start, initargs=(runner.config,))
    pending: deque = deque()
    source = iter(seeds)
    try:
        for seed in itertools.islice(source, 2 * workers):
            pending.append(pool.submit(_worker_episode, seed, horizon, perturb, perturb_tau))
        while pending:
            record = pending.popleft().result()
            for seed in itertools.islice(source, 1):
                pending.append(pool.submit(_worker_episode, seed, horizon, perturb, perturb_tau))
            yield record
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def collect(out: Path | str, task: str = "reach", episodes: int = 10, seed: int = 0, fps: int = 10,
            image_size: tuple[int, int] = (64, 64), horizon: int = 16, overwrite: bool = False,
            max_failures: int | None = None, progress: bool = False, perturb: float = 0.0,
            perturb_tau: float = 0.3, workers: int = 1) -> tuple[Path, CollectStats]:
    """Write `episodes` successful expert demonstrations (seeds seed, seed+1, ...) to a LeRobot dataset at `out`.

    Failed expert episodes are skipped; more than `max_failures` (default: episodes // 10 + 2) is an error,
    since it means the expert or the simulator is broken rather than unlucky. `workers` > 1 runs the episodes in
    that many processes (expert_episodes); the dataset is the same.
    """
    from dit4dit_ros.data.lerobot_writer import DatasetSpec, LeRobotDatasetWriter

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if perturb < 0 or perturb_tau <= 0:
        raise ValueError(f"perturb must be >= 0 rad and perturb_tau > 0 s, got {perturb}, {perturb_tau}")
    if max_failures is not None and max_failures < 0:
        raise ValueError(f"max_failures must be >= 0 (expert failures tolerated), got {max_failures}")
    max_failures = episodes // 10 + 2 if max_failures is None else max_failures
    from dit4dit_ros.g1.channels import ARMS_ONLY_GROUPS, OFFICIAL_G1_GROUPS

    runner = SimEpisodeRunner(RunnerConfig(task=task, fps=fps, image_size=image_size))
    h, w = runner.config.image_size
    groups = OFFICIAL_G1_GROUPS if runner.has_hands else ARMS_ONLY_GROUPS
    spec = DatasetSpec(fps=fps, video_sizes={CAMERA_KEY: (h, w)}, state_groups=groups, action_groups=groups)
    writer = LeRobotDatasetWriter(out, spec, overwrite=overwrite, gop=fps)
    stats = CollectStats()
    start = time.perf_counter()
    records = expert_episodes(runner, itertools.count(seed), workers, horizon, perturb=perturb,
                              perturb_tau=perturb_tau)
    try:
        for record in records:
            if not record.success:
                stats.failed += 1
                stats.failed_seeds.append(record.seed)
                log.warning("expert failed on seed %d (min distance %.3f m): episode dropped", record.seed,
                            record.min_distance)
                if stats.failed > max_failures:
                    raise RuntimeError(f"the expert failed on {stats.failed} seeds {stats.failed_seeds}: "
                                       "more than max_failures; check the simulator")
                continue
            writer.add_episode(record.instruction, record.state, record.action, {CAMERA_KEY: record.images})
            stats.episodes += 1
            stats.frames += len(record.images)
            if progress:
                elapsed = time.perf_counter() - start
                print(f"episode {stats.episodes}/{episodes} seed {record.seed} frames {len(record.images)} "
                      f"min distance {record.min_distance:.3f} m  ({60 * stats.episodes / elapsed:.1f} episodes/min)",
                      flush=True)
            if stats.episodes >= episodes:
                break
        records.close()  # stops the workers before the dataset is finalised
        root = writer.finalize()
    except BaseException:
        writer.abort()
        raise
    finally:
        records.close()
        runner.close()
    stats.seconds = time.perf_counter() - start
    return root, stats
