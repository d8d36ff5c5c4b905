"""Seeded closed-loop evaluation through the real ROS graph (`dit4dit eval --mode graph`, `dit4dit demo`).

The graph is started once with `dit4dit run` (lock-stepped simulator, the checkpoint, the task's instruction,
the simulated camera at the model's image size). Then, per episode, from this process and only through the
graph's public interfaces: disable the executor (the robot damps, then is released), reset the simulator
(`/dit4dit/sim/reset`: the k-th reset uses seed + k), enable the executor (soft start from the measured
pose), and follow the latched task status (diagnostic key/values) until the task has reported success for
`hold_time` of simulation time or the policy has had `duration` seconds of simulation time in control. The
policy's time starts when the executor reports RUNNING: its soft start (about 2 s with the deployment config,
chunks are refused meanwhile) is not the policy's time, and counting it cut the policy's share of a 5 s episode
to 3 s. Success is judged exactly as in direct mode (results.SuccessHold).

Observers (videos, recordings) get the ego frames and, when they need it, the simulator's third-person view
(`scene_camera_enabled`: rendered after each ego frame, so the policy sees the same images), the measured joints
and the objects' poses from /tf, and every chunk's inference time from the policy's state.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dit4dit_ros.data.topics import (
    IMAGE_TOPIC,
    JOINT_STATES_TOPIC,
    POLICY_STATE_TOPIC,
    SCENE_IMAGE_TOPIC,
    SIM_RELEASE_SERVICE,
    SIM_RESET_SERVICE,
    SIM_TASK_TOPIC,
    TF_TOPIC,
)
from dit4dit_ros.evaluation.episode import EpisodeObserver, StepSample
from dit4dit_ros.evaluation.results import EpisodeResult, EvalResult, SuccessHold
from dit4dit_ros.control.executor_params import hands_parameters
from dit4dit_ros.evaluation.direct import task_distance
from dit4dit_ros.policy.runner import ChunkTrace
from dit4dit_ros.utils.waiting import WaitTimeout, wait_until
from dit4dit_ros.utils.stamps import stamp_to_seconds

log = logging.getLogger(__name__)

# How long (wall seconds) the command-stepped simulation waits for the executor's answer before stepping on
# without it. The node default (0.2 s) keeps an interactive simulation moving when no executor answers; an
# evaluation wants every episode exact instead. With 0.2 s, 13 of about 220 chunks of a 20-seed reach evaluation
# on this 2-core machine were not handled in time even idle (the physics went on without them), so runs of the
# same seeds parted by load. The bound stays: a dead executor still costs only this long per step.
EVAL_COMMAND_STEP_TIMEOUT_S = 5.0


def graph_parameters(config: Path, checkpoint: Path, task: str, first_seed: int, image_size: tuple[int, int],
                     replan_hz: float, blind: bool, num_threads: int = 0, scene_camera: bool = False) -> dict:
    """The deployment YAML adapted for evaluation: task, seeds, camera at the model's size, replan rate."""
    from dit4dit_ros.bringup.graph import load_parameter_yaml

    data = load_parameter_yaml(config)
    if "sim_robot" not in data:
        raise ValueError(f"{config} has no sim_robot section: graph evaluation needs the simulated G1")
    sim = data["sim_robot"]["ros__parameters"]
    # The k-th reset uses seed + k and every episode starts with a reset: seed - 1 makes the first one `first_seed`.
    # Repeatable episodes (the same outcome idle or on a busy machine): the simulation pauses after each reset
    # until this evaluator has enabled the executor (hold_after_reset), its physics steps by the executor's answers
    # to each state (command_stepped + the executor's command_echo), the policy pairs each frame with the state of
    # the frame's time (state_at_frame) and draws its noise from the observation (noise_seed): docs/realtime.md.
    sim.update(task=task, seed=first_seed - 1, camera_height=image_size[0], camera_width=image_size[1],
               camera_rate_hz=replan_hz, lockstep=True, hold_after_reset=True, command_stepped=True,
               command_step_timeout=EVAL_COMMAND_STEP_TIMEOUT_S)
    if scene_camera:
        from dit4dit_ros.evaluation.video import SCENE_SIZE

        sim.update(scene_camera_enabled=True, scene_camera_height=SCENE_SIZE[0], scene_camera_width=SCENE_SIZE[1])
    # Viewers' TF is not needed here (this evaluator reads /joint_states itself): no robot_state node taking CPU from
    # the lock-stepped graph on a small machine, so results compare with runs made before it existed.
    data.pop("robot_state", None)
    # A task played with the Dex3-1 hands (pick_place): the executor drives them on rt/dex3/* (the policy's gripper
    # columns) with the same settings as the in-process runner (demo/runner.py), and g1_state puts their joints on
    # /joint_states (the policy's gripper state).
    hands = _hands(task, sim.get("hands", "task"))
    data["executor"]["ros__parameters"].update(hands_parameters(hands))
    if hands == "dex3":
        data["g1_state"]["ros__parameters"]["hands"] = "dex3"
    data["executor"]["ros__parameters"].update(clock="ros", command_echo=True)
    # every state to the policy: the state of a frame's time is then always among them (a decimated stream's grid
    # need not meet the frame grid: frames counted from the loop's first step, 6 ms off the 10 ms grid, made the
    # policy wait out the lock-step timeout). The command-stepped simulation runs at a fraction of real time, so
    # this is a few hundred joint states per second.
    data["g1_state"]["ros__parameters"]["publish_rate"] = float(sim.get("state_rate_hz", 500.0))
    data["policy"]["ros__parameters"].update(checkpoint=str(checkpoint), blind=blind, rate_hz=0.0, noise_seed=0,
                                             state_at_frame=True)
    if num_threads:
        data["policy"]["ros__parameters"]["num_threads"] = int(num_threads)
    return data


def _hands(task: str, hands: str) -> str:
    """The hands the simulator will have: its `hands` parameter, or the task's own scene for 'task'."""
    from dit4dit_ros.sim.tasks import task_scene

    return task_scene(task).hands if hands == "task" else hands


class GraphEvaluator:
    """Drives one running graph through episodes (see module docstring)."""

    STARTUP_LIMIT = 10.0  # s of simulation time the executor may take to reach RUNNING before the episode fails

    def __init__(self, run: subprocess.Popen, log_dir: Path, observe: bool, scene: bool) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticStatus
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image, JointState
        from std_srvs.srv import Trigger
        from tf2_msgs.msg import TFMessage

        from dit4dit_ros.nodes.qos import COMMANDS, SENSOR_DATA, TASK_STATUS
        from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TOPIC, EXECUTOR_STATE_TYPE

        self.run, self.log_dir = run, log_dir
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("dit4dit_graph_eval", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.task = None  # nodes.status_msgs.TaskSample
        self.task_queue: list = []  # every task status since the episode's reset, in order (TASK_STATUS is deep)
        self.executor_state: dict = {}
        self.observe = observe
        self.samples: list[StepSample] = []  # ego / scene frames of the current episode, in arrival order
        self.inference: list[float] = []
        self.chunks: list[dict] = []  # the policy's ChunkTrace of each chunk of the episode
        self.joints: dict[str, float] = {}
        self.objects: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.node.create_subscription(DiagnosticStatus, SIM_TASK_TOPIC, self._on_task, TASK_STATUS)
        self.node.create_subscription(EXECUTOR_STATE_TYPE, EXECUTOR_STATE_TOPIC, self._on_executor, SENSOR_DATA)
        self.node.create_subscription(DiagnosticStatus, POLICY_STATE_TOPIC, self._on_policy, COMMANDS)
        if observe:
            self.node.create_subscription(Image, IMAGE_TOPIC, lambda m: self._on_image(m, "ego"),
                                          SENSOR_DATA)
            self.node.create_subscription(JointState, JOINT_STATES_TOPIC, self._on_joints, SENSOR_DATA)
            self.node.create_subscription(TFMessage, TF_TOPIC, self._on_tf, SENSOR_DATA)
            if scene:
                self.node.create_subscription(Image, SCENE_IMAGE_TOPIC, lambda m: self._on_image(m, "scene"),
                                              SENSOR_DATA)
        self.clients = {name: self.node.create_client(Trigger, srv) for name, srv in (
            ("reset", SIM_RESET_SERVICE), ("release", SIM_RELEASE_SERVICE), ("enable", "/executor/enable"),
            ("disable", "/executor/disable"))}
        self._last_chunks = None
        self._last_stamp: dict[str, float] = {}

    # ---- subscriptions ------------------------------------------------------------------------------------------
    def _on_task(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import task_status_from_msg

        self.task = task_status_from_msg(msg)
        self.task_queue.append(self.task)

    def _on_executor(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import executor_state

        self.executor_state = executor_state(msg)

    def _on_policy(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import values_of

        values = values_of(msg)
        chunks = values.get("chunks")
        if self._last_chunks is not None and chunks != self._last_chunks and "inference_ms" in values:
            self.inference.append(float(values["inference_ms"]) / 1e3)
            # from the text as written: values_of would read hex digests made of digits as numbers
            trace = ChunkTrace.from_text({kv.key: kv.value for kv in msg.values})
            if trace is not None:
                self.chunks.append(trace.as_dict())
        self._last_chunks = chunks

    def _on_joints(self, msg) -> None:
        self.joints = dict(zip(msg.name, msg.position))

    def _on_tf(self, msg) -> None:
        for t in msg.transforms:
            if t.header.frame_id == "world":
                tr, q = t.transform.translation, t.transform.rotation
                self.objects[t.child_frame_id] = (np.array([tr.x, tr.y, tr.z]), np.array([q.w, q.x, q.y, q.z]))

    def _on_image(self, msg, kind: str) -> None:
        from dit4dit_ros.nodes.image_conversion import msg_to_image

        stamp = stamp_to_seconds(msg.header.stamp)
        if self._last_stamp.get(kind) == stamp:
            return  # a lock-step re-send of the same frame
        self._last_stamp[kind] = stamp
        sample = StepSample(stamp, False, joints=dict(self.joints), objects=dict(self.objects),
                            executor_mode=str(self.executor_state.get("mode", "-")))
        setattr(sample, kind, np.array(msg_to_image(msg)))
        self.samples.append(sample)

    # ---- driving the graph --------------------------------------------------------------------------------------
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

    def episode(self, seed: int, duration: float, hold_time: float, wall_timeout: float) -> dict:
        if self.executor_state.get("mode") not in (None, "DISABLED"):
            self.call("disable")
            self.spin_until(lambda: self.executor_state.get("mode") == "DISABLED", 30, "the executor DISABLED")
        reply = self.call("reset")
        if not reply.success:
            raise RuntimeError(f"simulator reset failed: {reply.message}")
        self.spin_until(lambda: self.task is not None and self.task.status.seed == seed, 30,
                        f"the task status of seed {seed} after the reset (simulator says: {reply.message!r})")
        origin = self.task.episode_origin
        self.samples.clear()
        self.inference.clear()
        self.chunks.clear()
        self._last_stamp.clear()
        if origin is not None:
            # The enable is served at the time of the control loop's newest tick. Until the loop has ticked on the
            # held state of this reset, that is the previous episode's time, and the soft start would begin one or
            # more physics steps off (seen: a policy start 2 ms later in one of 20 repeated episodes).
            try:
                self.spin_until(lambda: (self.executor_state.get("control_time") or -np.inf) >= origin - 1e-3, 30,
                                f"the executor's control loop at the state of reset {seed} (simulation time "
                                f"{origin:.3f} s)")
            except WaitTimeout as exc:
                state = {k: self.executor_state.get(k) for k in ("mode", "control_time", "lowstate_received")}
                raise WaitTimeout(f"{exc}; the executor reports {state}") from None
        deadline = time.monotonic() + 60
        while not self.call("enable").success:  # refused while the state or clock is not flowing yet
            if time.monotonic() > deadline:
                raise RuntimeError("the executor refused to enable for 60 s")
            self.spin_until(lambda: True, 1, "a spin")
        self.call("release")  # the simulation held still since the reset: the soft start began at its time
        hold, best, trace = SuccessHold(hold_time), np.inf, []
        seen_time, policy_start, last = -1.0, None, self.task.status
        wall_deadline = time.monotonic() + wall_timeout
        self.task_queue = [t for t in self.task_queue if t.status.seed == seed]

        def finished() -> bool:
            nonlocal best, seen_time, policy_start, last
            if policy_start is None and self.executor_state.get("mode") in ("RUNNING", "HOLD") \
                    and self.executor_state.get("soft_start_done_at") is not None and origin is not None:
                # the executor's own time of the hand-over (simulation time), not when this process heard of it
                policy_start = max(round(float(self.executor_state["soft_start_done_at"]) - origin, 6), 0.0)
            while self.task_queue:  # every status in order: none is skipped when this process falls behind
                st = self.task_queue.pop(0).status
                if st.seed != seed or st.episode_time <= seen_time:
                    continue
                seen_time, last = st.episode_time, st
                distance = task_distance(st.task, st.metrics)
                best = min(best, distance)
                trace.append((round(seen_time, 4), distance))
                end = (self.STARTUP_LIMIT if policy_start is None else policy_start) + duration
                if hold.update(seen_time, bool(st.success)) or seen_time >= end:
                    return True
            return time.monotonic() > wall_deadline

        self.spin_until(finished, wall_timeout + 10, f"the end of episode {seed}")
        st = last  # the status the episode ended on (later ones may have arrived meanwhile)
        return {"seed": seed, "success": hold.succeeded, "final_success": bool(st.success),
                "min_distance": float(best), "final_distance": task_distance(st.task, st.metrics),
                "first_success_time": hold.first, "episode_time": float(st.episode_time),
                "policy_start_time": policy_start, "timed_out": time.monotonic() > wall_deadline,
                "samples": list(self.samples), "trace": trace, "inference": list(self.inference),
                "chunks": list(self.chunks),
                "origin": origin or 0.0}

    def runtime_report(self) -> dict:
        """The graph's own figures as it last reported them: the executor's tick timing, chunk delivery and counts,
        the simulated robot's counters."""
        executor = {k: self.executor_state[k] for k in ("tick", "chunk_delivery", "counts") if k in self.executor_state}
        return {"executor": executor, "simulator": dict(self.task.robot_counters) if self.task is not None else {}}

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _replay(ep: dict, observers: Sequence[EpisodeObserver], hold_time: float) -> None:
    """Hand an episode's frames to the observers with the facts known at each frame's time (distance and success
    from the task status trace, which the frames' stamps interleave; frames carry absolute simulation time)."""
    trace = ep["trace"]
    k = 0
    for sample in ep["samples"]:
        sample.sim_time = round(sample.sim_time - ep["origin"], 4)
        while k < len(trace) and trace[k][0] <= sample.sim_time + 1e-6:
            k += 1
        sample.distance = trace[k - 1][1] if k else None
        sample.success = ep["first_success_time"] is not None and sample.sim_time >= ep["first_success_time"] + hold_time - 1e-6
        for o in observers:
            o.observe(sample)


def evaluate_graph(checkpoint: str | Path, task: str = "reach", seeds: Sequence[int] = (), blind: bool = False,
                   config: str | Path | None = None, duration: float = 5.0, hold_time: float = 0.5,
                   replan_every: int = 4, episode_wall_timeout: float = 300.0, progress: bool = False,
                   log_dir: str | Path | None = None, num_threads: int = 0, observers: Sequence[EpisodeObserver] = (),
                   scene_camera: bool = False) -> EvalResult:
    """Evaluate `checkpoint` on consecutive `seeds` through `dit4dit run` (see module docstring)."""
    from dit4dit_ros.bringup.processes import start_run, stop_run
    from dit4dit_ros.bringup.profiles import write_parameter_yaml
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
    result = EvalResult(task=task, mode="graph", blind=blind, checkpoint=str(checkpoint), instruction=instruction)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dit4dit_graph_eval_") as tmp:
        logs = Path(log_dir) if log_dir else Path(tmp) / "logs"
        params = graph_parameters(Path(config) if config else config_file("g1_sim.yaml"), Path(checkpoint), task,
                                  seeds[0], tuple(engine.image_size), camera_hz, blind, num_threads, scene_camera)
        params_file = write_parameter_yaml(params, Path(tmp) / "params.yaml")
        run = start_run(params_file, "--instruction", instruction, "--no-status", "--log-dir", str(logs))
        evaluator = None
        try:
            evaluator = GraphEvaluator(run, logs, observe=bool(observers), scene=scene_camera)
            evaluator.spin_until(lambda: evaluator.executor_state.get("mode") is not None, 240, "the executor node")
            for n, seed in enumerate(seeds):
                for o in observers:
                    o.start_episode(n, seed, instruction)
                ep = evaluator.episode(seed, duration, hold_time, episode_wall_timeout)
                ego_frames = sum(s.ego is not None for s in ep["samples"])
                _replay(ep, observers, hold_time)
                episode = EpisodeResult(seed, ep["success"], ep["final_success"], round(ep["min_distance"], 4),
                                        round(ep["final_distance"], 4), ego_frames, ep["first_success_time"],
                                        float(np.mean(ep["inference"])) if ep["inference"] else float("nan"),
                                        policy_start_time=ep["policy_start_time"], episode_time=ep["episode_time"],
                                        distance_trace=ep["trace"], inference_trace=ep["inference"],
                                        chunk_trace=ep["chunks"])
                for o in observers:
                    o.end_episode(episode)
                result.episodes.append(episode)
                if progress:
                    print(f"seed {seed}: {'success' if ep['success'] else 'failure'}  min distance "
                          f"{ep['min_distance']:.3f} m  sim time {ep['episode_time']:.1f} s"
                          f"{'  (wall timeout)' if ep['timed_out'] else ''}", flush=True)
            result.runtime = evaluator.runtime_report()
        finally:
            for o in observers:
                o.close()
            if evaluator is not None:
                evaluator.close()
            stop_run(run)
    result.wall_seconds = time.perf_counter() - start
    return result
