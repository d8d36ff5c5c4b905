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
    p.add_argument("--log-dir", type=Path, default=Path("runs/latest/logs"), help="per-node log files")
    p.add_argument("--no-status", action="store_true", help="do not print the live status line")


def _run(args: argparse.Namespace) -> int:
    from dit4dit_ros.bringup.supervisor import RunOptions, Supervisor

    opts = RunOptions(
        config=args.config, checkpoint=args.checkpoint, instruction=args.instruction, duration=args.duration,
        enable=args.enable, exclude=set(args.exclude), log_dir=args.log_dir, status=not args.no_status,
    )
    return Supervisor(opts).run()


def register(registry) -> None:
    registry.add_command("run", "start the whole graph from a parameter YAML (sim or real G1)", _run_arguments, _run)
