"""Commands that start one node of the graph in this process: `dit4dit record`, `teleop`, `sim-robot`, `bench record`.

They sit here, above nodes/, so that the ROS-free areas whose node they run (data/, teleop/, sim/) never import
nodes/ or bringup/ (tests/test_import_layers.py). The ROS-free pieces they use stay in those areas.
"""
from __future__ import annotations

import argparse

# light (argparse, signal): the CLI's start-up stays fast
from dit4dit_ros.sim.standalone import parameter_values, run_dds_only, sim_robot_arguments


# ---- record (recorder node) -------------------------------------------------------------------------------------------
def _record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", default=None, help="episode directory (parameter output_dir; default 'episodes')")
    p.add_argument("--instruction", default=None, help="instruction when none arrives on /dit4dit/instruction")
    p.add_argument("--params-file", default=None, help="ROS parameter YAML with a 'recorder' section")
    p.add_argument("--start", action="store_true", help="start an episode at once (auto_start)")
    p.add_argument("--duration", type=float, default=None, help="stop each episode after this many seconds")
    p.add_argument("--episodes", type=int, default=None, help="with --start --duration: record this many, then exit")
    p.add_argument("--dds-commands", nargs="+", default=None, metavar="TOPIC",
                   help="also record Unitree DDS commands: rt/lowcmd, rt/arm_sdk, rt/dex3/left/cmd, rt/dex3/right/cmd")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--recover", metavar="DIR", default=None,
                      help="salvage the interrupted episodes under DIR/.partial and exit")
    mode.add_argument("--list", metavar="DIR", default=None, help="list the episodes under DIR and exit")


def _record(args: argparse.Namespace) -> int:
    if args.recover or args.list:
        from dit4dit_ros.data.episode_listing import list_episodes, recover_episodes

        return recover_episodes(args.recover) if args.recover else list_episodes(args.list)
    from dit4dit_ros.bringup.processes import ros_value
    from dit4dit_ros.nodes import recorder_node

    ros_args = ["--ros-args", "-r", f"__node:={recorder_node.NODE_NAME}"]
    if args.params_file:
        ros_args += ["--params-file", args.params_file]
    overrides = {
        "output_dir": args.output,
        "instruction": args.instruction,
        "auto_start": True if args.start else None,
        "max_episode_s": args.duration,
        "max_episodes": args.episodes,
    }
    for name, value in overrides.items():
        if value is not None:
            ros_args += ["-p", f"{name}:={ros_value(value)}"]
    if args.dds_commands:
        ros_args += ["-p", f"dds_command_topics:={','.join(args.dds_commands)}"]
    return recorder_node.main(["dit4dit-record"] + ros_args)


# ---- teleop (teleop node) -------------------------------------------------------------------------------
def _teleop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", choices=("keyboard", "replay", "expert"), default="keyboard",
                   help="keyboard: jog the palms from this terminal; replay: a recorded episode; expert: the "
                        "simulator's scripted expert")
    p.add_argument("--bag", default=None, help="replay: episode bag directory")
    p.add_argument("--replay-topic", default=None, help="replay: recorded command topic (default "
                   "/dit4dit/executor/command)")
    p.add_argument("--speed", type=float, default=None, help="replay: playback speed factor")
    p.add_argument("--loop", action="store_true", help="replay: start over at the end")
    p.add_argument("--rate", type=float, default=None, help="publish rate [Hz] (default 30)")
    p.add_argument("--hand", choices=("right", "left"), default=None, help="keyboard: hand jogged first")
    p.add_argument("--step", type=float, default=None, help="keyboard: palm step per key [m] (default 0.01)")
    p.add_argument("--params-file", default=None, help="ROS parameter YAML with a 'teleop' section")


def _teleop(args: argparse.Namespace) -> int:
    import sys

    from dit4dit_ros.bringup.processes import ros_value
    from dit4dit_ros.nodes import teleop_node

    if args.source == "replay" and not args.bag:
        print("error: --source replay needs --bag DIR (an episode bag directory)", file=sys.stderr)
        return 2
    ros_args = ["--ros-args", "-r", f"__node:={teleop_node.NODE_NAME}"]
    if args.params_file:
        ros_args += ["--params-file", args.params_file]
    overrides = {"source": args.source, "bag": args.bag, "replay_topic": args.replay_topic,
                 "replay_speed": args.speed, "replay_loop": True if args.loop else None, "rate": args.rate,
                 "hand": args.hand, "jog_step": args.step}
    for name, value in overrides.items():
        if value is not None:
            # node-qualified: with a params file rclpy applies only `-p node:name:=v` overrides
            ros_args += ["-p", f"{teleop_node.NODE_NAME}:{name}:={ros_value(value)}"]
    if args.source == "keyboard":
        from dit4dit_ros.teleop.keys import key_help

        print("keyboard teleop (palm jogs, pelvis frame: x forward, y left, z up):\n" + key_help(), file=sys.stderr)
    return teleop_node.main(["dit4dit-teleop"] + ros_args)


# ---- sim-robot (sim node, or the DDS-only loop) -----------------------------------------------------------
def _sim_robot(args: argparse.Namespace) -> int:
    values = parameter_values(args)
    if args.no_ros:
        if args.lockstep:
            raise SystemExit("--lockstep needs the ROS side (frames and acknowledgements): drop --no-ros")
        return run_dds_only(values)
    from rclpy.parameter import Parameter

    from dit4dit_ros.nodes.sim_robot_node import run

    return run(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()], args=[])


# ---- bench record (recorder node + a publisher process) --------------------------------------------------
def _bench_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--image-rate", type=float, default=30.0)
    p.add_argument("--state-rate", type=float, default=500.0)
    p.add_argument("--command-rate", type=float, default=0.0, help="also publish commands (JointState) at this rate")
    p.add_argument("--output", default=None, help="keep the bag here (default: a temporary directory, deleted)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _bench_record(args: argparse.Namespace) -> int:
    import json

    from dit4dit_ros.bringup.bench_record import run_record_bench

    result = run_record_bench(args.duration, args.width, args.height, args.image_rate, args.state_rate,
                              args.command_rate, args.output)
    if args.json:
        data = dict(result.__dict__)
        data["dropped"] = result.dropped
        print(json.dumps(data, indent=1))
    else:
        print(result.table())
    return 0 if all(v == 0 for v in result.dropped.values()) else 1


def register(registry) -> None:
    registry.add_command("record", "record episodes (rosbag2 MCAP) from the live graph; --recover, --list",
                         _record_arguments, _record)
    registry.add_command("teleop", "teleoperate through the executor: keyboard jogging, episode replay or the sim "
                         "expert -> /dit4dit/teleop/joint_command", _teleop_arguments, _teleop)
    registry.add_command("sim-robot", "run the simulated G1 (MuJoCo) on the robot's DDS topics", sim_robot_arguments,
                         _sim_robot)
    registry.add_bench("record", "recorder loss/CPU/disk at 30 Hz 640x480 + 500 Hz joint states",
                       _bench_record_arguments, _bench_record)
