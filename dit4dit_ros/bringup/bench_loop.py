"""`dit4dit bench loop`: the closed loop's speed, measured from outside the running graph.

Starts `dit4dit run` (a child process tree, real-time simulator by default) and, from this process, reads
what an operator could read: action chunks (policy rate), the executor's state (observation-to-command
latency of each accepted chunk, the 500 Hz tick's period statistics) and /proc (CPU per node process).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC, EXECUTOR_STATE_TOPIC, POLICY_STATE_TOPIC
from dit4dit_ros.nodes.chunk_delivery import LEGS, SLOW_DELIVERY_S
from dit4dit_ros.utils.waiting import wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """The running processes below `pid` (children, their children, ...)."""
    out: list[int] = []
    stack = _children(pid)
    for _ in range(10_000):  # bounded walk of the process tree
        if not stack:
            break
        child = stack.pop()
        out.append(child)
        stack.extend(_children(child))
    return out


def node_processes(nodes: dict[str, int]) -> dict[int, str]:
    """{pid: node name} of each node and its helper processes (the executor's real-time process, the simulator's
    physics process): what a node binds or burns includes its helpers'."""
    return {pid: name for name, node in nodes.items() for pid in (node, *descendants(node))}


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its running descendants, in seconds (from /proc/<pid>/stat).

    A node's work includes its helper processes: the executor's real-time process, the simulator's physics
    process. A descendant that exits between the two reads drops out (a window is taken on a steady graph)."""
    total = _own_cpu_seconds(pid)
    for child in descendants(pid):
        try:
            total += _own_cpu_seconds(child)
        except OSError:
            pass  # exited meanwhile
    return total


def child_nodes(supervisor_pid: int) -> dict[str, int]:
    """{node name: pid} of the supervisor's children, from their `__node:=` command-line remap."""
    out: dict[str, int] = {}
    for pid in _children(supervisor_pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for a in args:
            if a.startswith(b"__node:="):
                out[a.split(b":=", 1)[1].decode()] = pid
    return out


@dataclass
class LoopFigures:
    duration: float
    chunks: int
    chunk_latencies: list[float] = field(default_factory=list)  # s, observation -> accepted by the executor
    inference_ms: list[float] = field(default_factory=list)
    executor_tick: dict = field(default_factory=dict)
    command_rate_hz: float = float("nan")
    cpu_percent: dict[str, float] = field(default_factory=dict)
    executor_realtime: str = "normal"
    chunk_delivery: dict = field(default_factory=dict)  # the executor's nodes/chunk_delivery.py report

    def table(self) -> str:
        lat = np.array(self.chunk_latencies) * 1e3 if self.chunk_latencies else np.array([np.nan])
        inf = np.array(self.inference_ms) if self.inference_ms else np.array([np.nan])
        t = self.executor_tick
        rows = [
            ("policy rate", f"{self.chunks / self.duration:.2f} Hz ({self.chunks} chunks in {self.duration:.1f} s)"),
            ("policy inference p50 / p99", f"{np.nanpercentile(inf, 50):.1f} / {np.nanpercentile(inf, 99):.1f} ms"),
            ("observation -> command p50 / p99",
             f"{np.nanpercentile(lat, 50):.1f} / {np.nanpercentile(lat, 99):.1f} ms (n={len(self.chunk_latencies)})"),
            ("executor command rate", f"{self.command_rate_hz:.1f} Hz"),
            ("executor period p50 / p99 / max",
             f"{t.get('period_p50', np.nan) * 1e3:.2f} / {t.get('period_p99', np.nan) * 1e3:.2f} / "
             f"{t.get('period_max', np.nan) * 1e3:.2f} ms"),
            ("executor overruns", f"{t.get('overruns', '-')} of {t.get('ticks', '-')} ticks"),
            ("executor ticks late by > 1 ms", f"{100 * t.get('late_share', np.nan):.2f} %"),
            ("executor tick work p50 / p99",
             f"{t.get('work_p50', np.nan) * 1e3:.3f} / {t.get('work_p99', np.nan) * 1e3:.3f} ms"),
            ("executor scheduling", self.executor_realtime),
        ]
        d = self.chunk_delivery
        rows += [(f"chunk {leg} p50 / max", f"{d.get(f'{leg}_p50_ms', np.nan):.2f} / {d.get(f'{leg}_max_ms', np.nan):.2f} ms")
                 for leg in LEGS]
        rows.append((f"chunks slower than {SLOW_DELIVERY_S * 1e3:.0f} ms to the control process", f"{d.get('slow', '-')} of {d.get('chunks', '-')}"))
        rows += [(f"CPU {name}", f"{pct:.0f} %") for name, pct in sorted(self.cpu_percent.items())]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def make_random_checkpoint(preset: str, instruction: str, out_dir: Path) -> Path:
    """A randomly initialised checkpoint of `preset` whose prompt cache knows `instruction` (for timing only)."""
    import torch

    from dit4dit_ros.model.checkpoint import save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.text_encoder import embed_prompts

    torch.manual_seed(0)
    cfg = load_preset(preset)
    cache = embed_prompts("tiny-random:0", [instruction], max_length=cfg.video.prompt_max_length)
    save_checkpoint(out_dir, DiT4DiT(cfg), NormalizationStats.for_layout(cfg.layout), cache)
    return out_dir


def measure_loop(config: Path, checkpoint: Path, instruction: str, duration: float, log_dir: Path,
                 start_timeout: float = 180.0) -> LoopFigures:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from diagnostic_msgs.msg import DiagnosticStatus
    from trajectory_msgs.msg import JointTrajectory

    from dit4dit_ros.nodes.qos import COMMANDS, SENSOR_DATA
    from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TYPE, executor_state, values_of

    from dit4dit_ros.bringup.processes import start_run, stop_run

    run = start_run(config, "--checkpoint", str(checkpoint), "--instruction", instruction, "--enable", "--no-status",
                    "--duration", str(duration + start_timeout + 30), "--log-dir", str(log_dir))
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("dit4dit_bench_loop", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    chunks: list[float] = []
    executor_states: list[dict] = []
    policy_states: list[dict] = []
    node.create_subscription(JointTrajectory, ACTION_CHUNK_TOPIC, lambda m: chunks.append(time.monotonic()), COMMANDS)
    node.create_subscription(EXECUTOR_STATE_TYPE, EXECUTOR_STATE_TOPIC, lambda m: executor_states.append(executor_state(m)),
                             SENSOR_DATA)
    node.create_subscription(DiagnosticStatus, POLICY_STATE_TOPIC, lambda m: policy_states.append(values_of(m)), COMMANDS)

    def spin_until(pred, timeout, what):
        def step():
            executor.spin_once(timeout_sec=0.05)
            if run.poll() is not None:
                raise RuntimeError(f"`dit4dit run` exited with {run.returncode}; see the logs in {log_dir}")
            return pred()
        return wait_until(step, timeout, poll=0.001, what=what)

    try:
        spin_until(lambda: executor_states and executor_states[-1].get("mode") == "RUNNING", start_timeout,
                   "the executor RUNNING")
        nodes = child_nodes(run.pid)  # each node's figure includes its helper processes; they also get their own
        rt_pid = executor_states[-1].get("rt_pid")
        if rt_pid:  # the executor's control process is the executor node's child
            nodes["executor, of which its control process"] = int(rt_pid)
        for pid in descendants(nodes["sim_robot"]) if "sim_robot" in nodes else ():
            nodes["sim_robot, of which its physics process"] = pid
        cpu0 = {n: process_cpu_seconds(p) for n, p in nodes.items()}
        t0, n0, k0 = time.monotonic(), len(chunks), len(executor_states)
        spin_until(lambda: time.monotonic() - t0 >= duration, duration + 10, "the measurement window")
        elapsed = time.monotonic() - t0
        cpu = {}
        for name, pid in nodes.items():
            try:
                cpu[name] = 100.0 * (process_cpu_seconds(pid) - cpu0[name]) / elapsed
            except OSError:
                cpu[name] = float("nan")
        window = executor_states[k0:]
        latencies = sorted({(s.get("counts", {}).get("policy_accepted"), s["last_chunk_latency_s"])
                            for s in window if s.get("last_chunk_latency_s") is not None})
        return LoopFigures(
            duration=elapsed, chunks=len(chunks) - n0, chunk_latencies=[lat for _, lat in latencies],
            inference_ms=[s["inference_ms"] for s in policy_states if s.get("inference_ms") == s.get("inference_ms")],
            executor_tick=window[-1].get("tick", {}) if window else {},
            command_rate_hz=float(np.mean([s.get("command_rate_hz", np.nan) for s in window])) if window else float("nan"),
            cpu_percent=cpu,
            executor_realtime=((window[-1].get("realtime") or {}).get("scheduler", "normal")) if window else "-",
            chunk_delivery=window[-1].get("chunk_delivery", {}) if window else {},
        )
    finally:
        stop_run(run)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def run_bench(args) -> int:
    from dit4dit_ros.bringup.graph import load_parameter_yaml
    from dit4dit_ros.bringup.profiles import realtime_sim, write_parameter_yaml
    from dit4dit_ros.sim.tasks import make_task
    from dit4dit_ros.utils.cpu_hog import CpuHogs
    from dit4dit_ros.utils.dds_env import apply_isolation, claim_loopback_isolation

    if "ROS_DOMAIN_ID" not in os.environ:
        apply_isolation(claim_loopback_isolation())
    instruction = args.instruction or make_task(args.task).instruction
    with tempfile.TemporaryDirectory(prefix="dit4dit_bench_loop_") as tmp:
        tmp = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else make_random_checkpoint(args.preset, instruction, tmp / "ckpt")
        data = load_parameter_yaml(args.config)
        if not args.lockstep:
            data = realtime_sim(data, camera_size=args.camera_size, policy_rate_hz=args.rate,
                                realtime_robot=args.realtime_sim)
        if args.realtime:
            data["executor"]["ros__parameters"]["realtime"] = True
        if args.realtime_sim:
            data["sim_robot"]["ros__parameters"]["realtime"] = True
        config = write_parameter_yaml(data, tmp / "params.yaml")
        if args.cpu_hog < 0:
            raise SystemExit(f"--cpu-hog must be >= 0, got {args.cpu_hog}")
        with CpuHogs(args.cpu_hog):
            figures = measure_loop(config, checkpoint, instruction, args.duration, tmp / "logs")
    print(f"closed loop on the simulated G1 ({'lock-step' if args.lockstep else 'real time'}), "
          f"checkpoint {'random ' + args.preset if not args.checkpoint else args.checkpoint}, "
          f"{args.cpu_hog} busy processes beside it")
    print(figures.table())
    return 0
