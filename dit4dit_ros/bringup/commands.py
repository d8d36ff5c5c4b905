"""CLI of the bringup area: `dit4dit run`."""
from __future__ import annotations

import argparse
from pathlib import Path


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="ROS parameter YAML of the deployment (config/g1_sim.yaml)")
    p.add_argument("--checkpoint", help="policy checkpoint directory (overrides the YAML's policy.checkpoint)")
    p.add_argument("--instruction", help="language goal (must have a cached prompt embedding)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--enable", action="store_true", help="enable the executor once the graph is up")
    p.add_argument("--exclude", nargs="*", default=[], help="node names not to start")
    p.add_argument("--only", nargs="*", default=None, help="start only these nodes of the YAML (one host of a "
                   "split-host graph, docs/split_host.md)")
    p.add_argument("--log-dir", type=Path, default=Path("runs/latest/logs"), help="per-node log files")
    p.add_argument("--no-status", action="store_true", help="do not print the live status line")


def _run(args: argparse.Namespace) -> int:
    import sys

    from dit4dit_ros.bringup.supervisor import RunOptions, Supervisor
    from dit4dit_ros.utils.dds_env import DomainClashError

    from dit4dit_ros.bringup.graph import KNOWN_BY_NAME

    exclude = set(args.exclude)
    if args.only is not None:
        unknown = set(args.only) - set(KNOWN_BY_NAME)
        if unknown:
            print(f"dit4dit run: --only names unknown node(s) {sorted(unknown)}; known: {sorted(KNOWN_BY_NAME)}",
                  file=sys.stderr)
            return 2
        exclude |= set(KNOWN_BY_NAME) - set(args.only)
    opts = RunOptions(
        config=args.config, checkpoint=args.checkpoint, instruction=args.instruction, duration=args.duration,
        enable=args.enable, exclude=exclude, log_dir=args.log_dir, status=not args.no_status,
    )
    try:
        supervisor = Supervisor(opts)
    except DomainClashError as exc:
        print(f"dit4dit run: refusing to start: {exc}", file=sys.stderr)
        return 2
    return supervisor.run()


def register(registry) -> None:
    registry.add_command("run", "start the whole graph from a parameter YAML (sim or real G1)", _run_arguments, _run)
    registry.add_command("demo", "the shipped policy closed loop on the simulated G1 through the ROS graph "
                         "(success rate + rollout video)", _demo_arguments, _demo)
    registry.add_bench("loop", "closed-loop figures: policy rate, obs->command latency, executor jitter, CPU per node",
                       _bench_loop_arguments, _bench_loop)


def _bench_loop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="parameter YAML (default: the shipped config/g1_sim.yaml)")
    p.add_argument("--checkpoint", help="policy checkpoint (default: a random model of --preset)")
    p.add_argument("--preset", default="tiny", help="preset of the random model when no checkpoint is given")
    p.add_argument("--task", default="reach", help="sim task whose instruction the policy gets")
    p.add_argument("--instruction", help="override the task's instruction")
    p.add_argument("--duration", type=float, default=20.0, help="measurement window [s]")
    p.add_argument("--rate", type=float, default=6.0, help="policy rate_hz")
    p.add_argument("--camera-size", type=int, default=64, help="simulated camera resolution (square)")
    p.add_argument("--lockstep", action="store_true", help="keep the lock-stepped simulator of the YAML")


def _bench_loop(args: argparse.Namespace) -> int:
    from dit4dit_ros.bringup.bench_loop import run_bench
    from dit4dit_ros.paths import config_file

    if args.config is None:
        args.config = config_file("g1_sim.yaml")
    return run_bench(args)


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="policy checkpoint (default: the shipped models/g1_reach_small)")
    p.add_argument("--task", default="reach", help="simulated task")
    p.add_argument("--episodes", type=int, default=5, help="number of seeded episodes")
    p.add_argument("--first-seed", type=int, default=None, help="first seed (default: the held-out evaluation seeds)")
    p.add_argument("--video", type=Path, default=Path("runs/demo/rollout.mp4"), help="rollout video (mp4)")
    p.add_argument("--log-dir", type=Path, default=Path("runs/demo/logs"), help="per-node logs of the graph")


def _demo(args: argparse.Namespace) -> int:
    """The main job: the shipped policy closed loop on the simulated G1 through the real ROS graph."""
    from dit4dit_ros.bringup.graph_eval import evaluate_graph
    from dit4dit_ros.demo.evaluate import DEFAULT_EVAL_SEED
    from dit4dit_ros.paths import demo_checkpoint

    if args.episodes < 1:
        raise SystemExit(f"--episodes must be >= 1, got {args.episodes}")
    checkpoint = Path(args.checkpoint) if args.checkpoint else demo_checkpoint()
    first = DEFAULT_EVAL_SEED if args.first_seed is None else args.first_seed
    args.video.parent.mkdir(parents=True, exist_ok=True)
    print(f"closed loop on the simulated G1 through the ROS graph: {checkpoint}, task {args.task}, "
          f"{args.episodes} episode(s) from seed {first}", flush=True)
    result = evaluate_graph(checkpoint, task=args.task, seeds=range(first, first + args.episodes),
                            video_path=args.video, progress=True, log_dir=args.log_dir)
    print(result.summary())
    print(f"rollout video: {args.video}")
    return 0
