"""CLI of the bringup area: `dit4dit run`, `monitor`, `bench loop|safety`, and the single-node commands of
node_commands.py (`record`, `teleop`, `sim-robot`, `bench record`)."""
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
    p.add_argument("--with-parent", type=int, metavar="PID",
                   help="stop the graph (as on SIGTERM: executor first) when process PID, which started this run, "
                   "exits, even by SIGKILL (evaluations and benches pass their own PID)")


def _run(args: argparse.Namespace) -> int:
    import sys

    from dit4dit_ros.bringup.supervisor import RunOptions, Supervisor
    from dit4dit_ros.config import ParameterFileError
    from dit4dit_ros.utils.dds_env import DomainClashError

    from dit4dit_ros.bringup.graph import KNOWN_BY_NAME

    if args.with_parent is not None:
        from dit4dit_ros.utils.process_life import die_with_parent

        die_with_parent(args.with_parent)
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
        supervisor = Supervisor(opts)  # checks the whole parameter file before any process starts
    except (ParameterFileError, FileNotFoundError) as exc:
        print(f"dit4dit run: {exc}", file=sys.stderr)
        return 2
    except DomainClashError as exc:
        print(f"dit4dit run: refusing to start: {exc}", file=sys.stderr)
        return 2
    return supervisor.run()


def _monitor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rerun", action="store_true", help="bridge the live graph into a Rerun viewer")
    p.add_argument("--web", action="store_true", help="serve Rerun's web viewer on 127.0.0.1 instead of a window")
    p.add_argument("--port", type=int, default=9876, help="gRPC port of the Rerun viewer (127.0.0.1)")
    p.add_argument("--web-port", type=int, default=9090, help="HTTP port of the web viewer (127.0.0.1)")
    p.add_argument("--save", type=Path, help="record into this .rrd instead of showing it")
    p.add_argument("--scene", choices=("sim", "robot"), default="sim",
                   help="sim: the robot at the simulator's table; robot: the robot alone (real G1)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def _monitor(args: argparse.Namespace) -> int:
    from dit4dit_ros.bringup.rerun_monitor import RerunMonitorOptions, run_rerun_monitor

    if not args.rerun:
        raise SystemExit("dit4dit monitor: choose a viewer: --rerun (RViz: rviz2 -d config/dit4dit.rviz)")
    opts = RerunMonitorOptions(web=args.web, grpc_port=args.port, web_port=args.web_port, save=args.save,
                               scene=args.scene, duration=args.duration)
    return run_rerun_monitor(opts)


def register(registry) -> None:
    from dit4dit_ros.bringup import node_commands

    node_commands.register(registry)
    registry.add_command("run", "start the whole graph from a parameter YAML (sim or real G1)", _run_arguments, _run)
    registry.add_command("monitor", "watch the live graph in Rerun (robot meshes, chunks, cameras, plots), in a "
                         "window or the browser", _monitor_arguments, _monitor)
    registry.add_bench("loop", "closed-loop figures: policy rate, obs->command latency, executor jitter, CPU per node",
                       _bench_loop_arguments, _bench_loop)
    registry.add_bench("safety", "replay issue 19's trials against the simulated graph: input, what reached the robot, "
                       "pass/fail", _bench_safety_arguments, _bench_safety)


def _bench_safety_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="parameter YAML (default: the shipped config/g1_sim.yaml)")
    p.add_argument("--only", default="", help="comma-separated trial names (default: all)")
    p.add_argument("--list", action="store_true", help="list the trials and exit")


def _bench_safety(args: argparse.Namespace) -> int:
    import os

    from dit4dit_ros.bringup.safety_trials import TRIALS, run_trials
    from dit4dit_ros.paths import config_file
    from dit4dit_ros.utils.dds_env import UNITREE_DOMAIN_ENV, apply_isolation, claim_loopback_isolation

    if args.list:
        for trial in TRIALS:
            print(f"{trial.name:20s} {trial.input}")
        return 0
    if "ROS_DOMAIN_ID" not in os.environ or UNITREE_DOMAIN_ENV not in os.environ:
        apply_isolation(claim_loopback_isolation())  # the trials attack a simulated robot on loopback only
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    results = run_trials(args.config or config_file("g1_sim.yaml"), names or None)
    failed = [t.name for t, o in results if not o.passed]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


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
    p.add_argument("--cpu-hog", type=int, default=0, metavar="N",
                   help="N busy processes beside the graph for the whole bench (stopped by their PIDs after it)")
    p.add_argument("--realtime", action="store_true",
                   help="the executor's control process under SCHED_FIFO (where the OS permits)")
    p.add_argument("--realtime-sim", action="store_true",
                   help="also the simulator's physics process (physics + LowState loop with its DDS and render threads)")


def _bench_loop(args: argparse.Namespace) -> int:
    from dit4dit_ros.bringup.bench_loop import run_bench
    from dit4dit_ros.paths import config_file

    if args.config is None:
        args.config = config_file("g1_sim.yaml")
    return run_bench(args)
