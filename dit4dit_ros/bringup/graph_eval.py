"""Seeded closed-loop evaluation through the real ROS graph (`dit4dit eval --mode graph`, `dit4dit demo`).

The graph is started once with `dit4dit run` (lock-stepped simulator, the checkpoint, the task's instruction,
the simulated camera at the model's image size). Then, per episode, from this process and only through the
graph's public interfaces: disable the executor (the robot damps, then is released), reset the simulator
(`/dit4dit/sim/reset`: the k-th reset uses seed + k), enable the executor (soft start from the measured
pose), and follow the latched task status until the task has reported success for `hold_time` of
simulation time or the policy has had `duration` seconds of simulation time in control. The policy's time
starts when the executor reports RUNNING: its soft start (about 2 s with the deployment config, chunks are
refused meanwhile) is not the policy's time, and counting it cut the policy's share of a 5 s episode to 3 s.
Rollout frames for the video come from the ego camera topic. Success is judged exactly as in the in-process
evaluation (demo/evaluate.py).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dit4dit_ros.demo.evaluate import SuccessHold
from dit4dit_ros.utils.waiting import wait_until

log = logging.getLogger(__name__)


def graph_parameters(config: Path, checkpoint: Path, task: str, first_seed: int, image_size: tuple[int, int],
                     replan_hz: float, blind: bool, num_threads: int = 0) -> dict:
    """The deployment YAML adapted for evaluation: task, seeds, camera at the model's size, replan rate."""
    from dit4dit_ros.bringup.graph import load_parameter_yaml

    data = load_parameter_yaml(config)
    if "sim_robot" not in data:
        raise ValueError(f"{config} has no sim_robot section: graph evaluation needs the simulated G1")
    sim = data["sim_robot"]["ros__parameters"]
    # The k-th reset uses seed + k and every episode starts with a reset: seed - 1 makes the first one `first_seed`.
    sim.update(task=task, seed=first_seed - 1, camera_height=image_size[0], camera_width=image_size[1],
               camera_rate_hz=replan_hz, lockstep=True)
    data["policy"]["ros__parameters"].update(checkpoint=str(checkpoint), blind=blind, rate_hz=0.0)
    if num_threads:
        data["policy"]["ros__parameters"]["num_threads"] = int(num_threads)
    return data


class GraphEvaluator:
    """Drives one running graph through episodes (see module docstring)."""

    def __init__(self, run: subprocess.Popen, log_dir: Path, record_video: bool) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from dit4dit_ros.nodes.qos import LATCHED, SENSOR_DATA

        self.run, self.log_dir = run, log_dir
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("dit4dit_graph_eval", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.task_status: dict = {}
        self.executor_state: dict = {}
        self.frames: list[np.ndarray] = []
        self.record_video = record_video
        self.node.create_subscription(String, "/dit4dit/sim/task", self._on_task, LATCHED)
        self.node.create_subscription(String, "/dit4dit/executor/state", self._on_executor, SENSOR_DATA)
        if record_video:
            self.node.create_subscription(Image, "/camera/ego/image_raw", self._on_image, SENSOR_DATA)
        self.clients = {name: self.node.create_client(Trigger, srv) for name, srv in (
            ("reset", "/dit4dit/sim/reset"), ("enable", "/executor/enable"), ("disable", "/executor/disable"))}

    def _on_task(self, msg) -> None:
        self.task_status = json.loads(msg.data)

    def _on_executor(self, msg) -> None:
        self.executor_state = json.loads(msg.data)

    def _on_image(self, msg) -> None:
        from dit4dit_ros.nodes.image_conversion import msg_to_image

        self.frames.append(np.array(msg_to_image(msg)))

    def spin_until(self, predicate, timeout: float, what: str):
        def step():
            self.executor.spin_once(timeout_sec=0.02)
            if self.run.poll() is not None:
                raise RuntimeError(f"`dit4dit run` exited with {self.run.returncode}; logs in {self.log_dir}")
            return predicate()
        return wait_until(step, timeout, poll=0.001, what=what)

    def call(self, name: str, timeout: float = 30.0):
        from std_srvs.srv import Trigger

        client = self.clients[name]
        self.spin_until(lambda: client.service_is_ready(), timeout, f"service {client.srv_name}")
        future = client.call_async(Trigger.Request())
        self.spin_until(lambda: future.done(), timeout, f"a reply from {client.srv_name}")
        return future.result()

    STARTUP_LIMIT = 10.0  # s of simulation time the executor may take to reach RUNNING before the episode fails

    def episode(self, seed: int, duration: float, hold_time: float, wall_timeout: float) -> dict:
        if self.executor_state.get("mode") not in (None, "DISABLED"):
            self.call("disable")
            self.spin_until(lambda: self.executor_state.get("mode") == "DISABLED", 30, "the executor DISABLED")
        reply = self.call("reset")
        if not reply.success:
            raise RuntimeError(f"simulator reset failed: {reply.message}")
        status = json.loads(reply.message)
        if status["seed"] != seed:
            raise RuntimeError(f"simulator reset to seed {status['seed']}, expected {seed}")
        self.task_status = status
        self.frames.clear()
        deadline = time.monotonic() + 60
        while not self.call("enable").success:  # refused while the state or clock is not flowing yet
            if time.monotonic() > deadline:
                raise RuntimeError("the executor refused to enable for 60 s")
            self.spin_until(lambda: True, 1, "a spin")
        hold, best = SuccessHold(hold_time), np.inf
        seen_time, policy_start = -1.0, None
        wall_deadline = time.monotonic() + wall_timeout

        def finished() -> bool:
            nonlocal best, seen_time, policy_start
            st = self.task_status
            if policy_start is None and self.executor_state.get("mode") == "RUNNING":
                policy_start = max(seen_time, 0.0)
            if st.get("seed") != seed or st.get("episode_time", -1.0) == seen_time:
                return time.monotonic() > wall_deadline
            seen_time = st["episode_time"]
            best = min(best, float(st.get("metrics", {}).get("hand_cube_distance", np.inf)))
            succeeded = hold.update(seen_time, bool(st["success"]))
            end = (self.STARTUP_LIMIT if policy_start is None else policy_start) + duration
            return succeeded or seen_time >= end or time.monotonic() > wall_deadline

        self.spin_until(finished, wall_timeout + 10, f"the end of episode {seed}")
        st = self.task_status
        return {"seed": seed, "success": hold.first is not None, "final_success": bool(st.get("success")),
                "min_distance": float(best), "final_distance": float(st.get("metrics", {}).get("hand_cube_distance", np.nan)),
                "first_success_time": hold.first, "episode_time": float(st.get("episode_time", np.nan)),
                "policy_start_time": policy_start,
                "timed_out": time.monotonic() > wall_deadline, "frames": list(self.frames)}

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def evaluate_graph(checkpoint: str | Path, task: str = "reach", seeds: Sequence[int] = (), blind: bool = False,
                   config: str | Path | None = None, duration: float = 5.0, hold_time: float = 0.5,
                   replan_every: int = 4, video_path: str | Path | None = None, video_episodes: int = 4,
                   episode_wall_timeout: float = 300.0, progress: bool = False, log_dir: str | Path | None = None,
                   num_threads: int = 0):
    """Evaluate `checkpoint` on consecutive `seeds` through `dit4dit run`; returns demo.evaluate.EvalResult."""
    from dit4dit_ros.bringup.processes import start_run, stop_run
    from dit4dit_ros.bringup.profiles import write_parameter_yaml
    from dit4dit_ros.demo.evaluate import EpisodeResult, EvalResult
    from dit4dit_ros.engine.torch_engine import TorchEngine
    from dit4dit_ros.paths import config_file
    from dit4dit_ros.sim.tasks import make_task
    from dit4dit_ros.utils.dds_env import apply_isolation, claim_loopback_isolation

    seeds = [int(s) for s in seeds]
    if not seeds or seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(f"graph evaluation needs consecutive seeds (the simulator's k-th reset uses seed + k), got {seeds}")
    if "ROS_DOMAIN_ID" not in os.environ:
        apply_isolation(claim_loopback_isolation())
    engine = TorchEngine(str(checkpoint), device="cpu")  # only to read the model's I/O facts
    camera_hz = (1.0 / engine.control_period) / replan_every
    instruction = make_task(task).instruction
    engine.check_instruction(instruction)
    result = EvalResult(task=task, mode="graph", blind=blind, checkpoint=str(checkpoint))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dit4dit_graph_eval_") as tmp:
        logs = Path(log_dir) if log_dir else Path(tmp) / "logs"
        params = graph_parameters(Path(config) if config else config_file("g1_sim.yaml"), Path(checkpoint), task,
                                  seeds[0], tuple(engine.image_size), camera_hz, blind, num_threads)
        params_file = write_parameter_yaml(params, Path(tmp) / "params.yaml")
        run = start_run(params_file, "--instruction", instruction, "--no-status", "--log-dir", str(logs))
        evaluator = None
        video = None
        try:
            evaluator = GraphEvaluator(run, logs, record_video=video_path is not None)
            evaluator.spin_until(lambda: evaluator.executor_state.get("mode") is not None, 240, "the executor node")
            if video_path is not None:
                from dit4dit_ros.demo.evaluate import _VideoSink

                video = _VideoSink(video_path, tuple(engine.image_size), max(1, int(round(camera_hz))))
            for n, seed in enumerate(seeds):
                ep = evaluator.episode(seed, duration, hold_time, episode_wall_timeout)
                if video is not None and n < video_episodes:
                    for frame in ep["frames"]:
                        video.write(frame, False)
                result.episodes.append(EpisodeResult(seed, ep["success"], ep["final_success"], round(ep["min_distance"], 4),
                                                     round(ep["final_distance"], 4), len(ep["frames"]),
                                                     ep["first_success_time"], float("nan"),
                                                     policy_start_time=ep["policy_start_time"],
                                                     episode_time=ep["episode_time"]))
                if progress:
                    print(f"seed {seed}: {'success' if ep['success'] else 'failure'}  min distance "
                          f"{ep['min_distance']:.3f} m  sim time {ep['episode_time']:.1f} s"
                          f"{'  (wall timeout)' if ep['timed_out'] else ''}", flush=True)
        finally:
            if video is not None:
                video.close()
            if evaluator is not None:
                evaluator.close()
            stop_run(run)
    result.wall_seconds = time.perf_counter() - start
    return result
