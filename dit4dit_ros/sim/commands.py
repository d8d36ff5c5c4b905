"""CLI of the simulator: `dit4dit bench sim`.

`dit4dit sim-robot` starts the sim node, so it is registered in bringup/node_commands.py (sim/standalone.py holds
its ROS-free part).
"""
from __future__ import annotations

import argparse


# ------------------------------------------------------------------------------------------------ bench
def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=4.0, help="simulated seconds per physics measurement")
    p.add_argument("--frames", type=int, default=8, help="frames rendered per resolution")
    p.add_argument("--resolutions", default="224x224,320x240,640x480", help="comma-separated WxH")
    p.add_argument("--camera-hz", type=float, default=10.0, help="camera rate for the RTF-with-rendering row")
    p.add_argument("--lowstate-seconds", type=float, default=5.0, help="wall seconds of LowState rate measurement")
    p.add_argument("--skip-dds", action="store_true", help="skip the LowState rate/jitter measurement")


def _bench(args: argparse.Namespace) -> int:
    from dit4dit_ros.sim.bench import run_bench

    return run_bench(args)


def register(registry) -> None:
    registry.add_bench("sim", "simulator speed: mj_step, real-time factor with/without rendering, LowState rate/jitter",
                       _bench_arguments, _bench)
