"""Direct evaluation (`dit4dit eval --mode direct`): simulator + engine + executor core in one process, lock-stepped.

demo/runner.py drives the episodes: every `replan_every` frames the engine predicts a chunk from the current ego
image and arm joints, the executor blends it in, physics runs on. Inference time does not advance simulation time.
Success is judged by SuccessHold (results.py), exactly as through the graph.

`blind` feeds a constant mid-grey image instead of the camera (same model, same seeds): the baseline that shows how
much the policy relies on vision (the cube position is only visible in the image).

Videos and recordings observe the episodes (episode.py); the third-person view they show is rendered by a camera
of its own, after the ego image, so it never changes what the policy sees.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dit4dit_ros.evaluation.episode import EpisodeObserver, StepSample
from dit4dit_ros.evaluation.results import DEFAULT_EVAL_SEED, EpisodeResult, EvalResult, SuccessHold

BLIND_GREY = 128
DISTANCE_METRIC = {"reach": "hand_cube_distance", "pick_place": "cube_target_distance"}


def task_distance(task: str, metrics: dict) -> float:
    """The task's distance metric from a TaskStatus's metrics (NaN when absent)."""
    return float(metrics.get(DISTANCE_METRIC.get(task, "hand_cube_distance"), np.nan))


def object_poses(robot: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World poses (xyz, wxyz) of the scene's movable objects."""
    from dit4dit_ros.sim.scene import CUBE_BODY, TARGET_BODY

    out = {}
    for name in (CUBE_BODY, TARGET_BODY):
        body = robot.data.body(name)
        out[name] = (body.xpos.copy(), body.xquat.copy())
    return out


def evaluate_direct(checkpoint: str | Path, task: str = "reach",
                    seeds: Sequence[int] = range(DEFAULT_EVAL_SEED, DEFAULT_EVAL_SEED + 20),
                    blind: bool = False, replan_every: int = 4, duration: float = 5.0, hold_time: float = 0.5,
                    engine: Any = None, progress: bool = False, observers: Sequence[EpisodeObserver] = (),
                    scene_episodes: int = 0) -> EvalResult:
    """Seeded closed-loop rollouts in process (see module docstring). The first `scene_episodes` episodes also
    render the third-person view for the observers."""
    from dit4dit_ros.demo.runner import ARMS_AND_GRIPPERS, RunnerConfig, SimEpisodeRunner
    from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES

    if replan_every < 1:
        raise ValueError(f"replan_every must be >= 1 frame, got {replan_every}")
    if engine is None:
        from dit4dit_ros.engine.torch_engine import TorchEngine

        engine = TorchEngine(str(checkpoint), device="cpu", seed=0)
    layouts = (ARMS, ARMS_AND_GRIPPERS)
    if tuple(engine.state_joint_names) not in layouts or tuple(engine.action_joint_names) not in layouts:
        raise ValueError(f"the demo runner drives the 14 arm joints {list(ARMS)} (plus the grippers "
                         f"{list(ARMS_AND_GRIPPERS[len(ARMS):])} with hands); the checkpoint's layout has state "
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
    if tuple(engine.state_joint_names) != runner.state_names or tuple(engine.action_joint_names) != runner.state_names:
        runner.close()
        raise ValueError(f"task {task!r} runs a robot whose state/action channels are {list(runner.state_names)}; "
                         f"the checkpoint has state {list(engine.state_joint_names)} and action "
                         f"{list(engine.action_joint_names)}")
    instruction = runner.instruction
    engine.check_instruction(instruction)
    grey = np.full((*engine.image_size, 3), BLIND_GREY, dtype=np.uint8)
    frames = int(round(duration * fps))
    result = EvalResult(task=task, mode="direct", blind=blind, checkpoint=str(checkpoint), instruction=instruction)
    scene_camera = None
    start = time.perf_counter()
    try:
        if scene_episodes > 0:
            from dit4dit_ros.evaluation.video import SCENE_SIZE
            from dit4dit_ros.sim.camera import CameraConfig, SimCamera, ViewPoint

            scene_camera = SimCamera(runner.robot.model, CameraConfig(width=SCENE_SIZE[1], height=SCENE_SIZE[0]),
                                     ViewPoint())
        for n, seed in enumerate(seeds):
            obs = runner.reset(int(seed))
            hold, best, inference, trace = SuccessHold(hold_time), np.inf, [], []
            for o in observers:
                o.start_episode(n, int(seed), instruction)
            for k in range(frames + 1):
                distance = task_distance(task, obs.status.metrics)
                if k > 0:  # frame 0 is the reset state, not a status sample of the episode
                    hold.update(obs.time, obs.status.success)
                    best = min(best, distance)
                trace.append((round(float(obs.time), 4), distance))
                sample = StepSample(float(obs.time), hold.succeeded, distance, "RUNNING", ego=obs.image,
                                    joints=dict(zip(JOINT_NAMES, runner.robot.state().q.tolist())),
                                    objects=object_poses(runner.robot))
                if scene_camera is not None and n < scene_episodes:
                    sample.scene = scene_camera.render(runner.robot.data)
                if k < frames and k % replan_every == 0:
                    image = grey if blind else obs.image
                    out = engine.predict([image], obs.state, instruction)
                    inference.append(out.timings.get("total", 0.0))
                    sample.inference_seconds = inference[-1]
                    verdict = runner.submit(out.actions)
                    if not verdict:
                        raise RuntimeError(f"seed {seed}: the executor rejected the policy chunk: {verdict.reason}")
                for o in observers:
                    o.observe(sample)
                if k < frames:
                    obs = runner.advance()
            final = task_distance(task, obs.status.metrics)
            episode = EpisodeResult(int(seed), hold.succeeded, bool(obs.status.success), round(best, 4), round(final, 4),
                                    frames, hold.first, float(np.mean(inference)) if inference else 0.0,
                                    episode_time=round(float(obs.time), 3), distance_trace=trace,
                                    inference_trace=[float(x) for x in inference])
            for o in observers:
                o.end_episode(episode)
            result.episodes.append(episode)
            if progress:
                print(f"seed {seed}: {'success' if episode.success else 'failure'}  min distance {best:.3f} m  "
                      f"final {final:.3f} m  inference {1e3 * episode.inference_seconds:.0f} ms/chunk", flush=True)
    finally:
        for o in observers:
            o.close()
        if scene_camera is not None:
            scene_camera.close()
        runner.close()
    result.wall_seconds = time.perf_counter() - start
    return result
