"""CLI of the teleop area: `dit4dit teleop --source keyboard|replay|expert ...` (runs the teleop node)."""
from __future__ import annotations

import argparse


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


def register(registry) -> None:
    registry.add_command("teleop", "teleoperate through the executor: keyboard jogging, episode replay or the sim "
                         "expert -> /dit4dit/teleop/joint_command", _teleop_arguments, _teleop)
