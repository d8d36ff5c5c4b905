"""The simulated G1 as a process of its own (`dit4dit sim-robot`): its arguments, their node parameters, the
DDS-only loop.

The command is registered in bringup/node_commands.py because, unless --no-ros, it starts the ROS node;
everything here is ROS-free. The process serves demos and other areas' integration tests. It answers rt/lowcmd and rt/arm_sdk with rt/lowstate on the Unitree DDS domain/interface of the
environment (DIT4DIT_UNITREE_DOMAIN / DIT4DIT_UNITREE_INTERFACE, see utils/dds_env.py) and, unless --no-ros,
runs the ROS node (camera, /clock, task status, reset service) on ROS_DOMAIN_ID. Examples:

    dit4dit sim-robot --no-ros --duration 30            # DDS only, fastest start (no rclpy, no camera)
    dit4dit sim-robot --rate 500 --no-camera --duration 30
    dit4dit sim-robot --lockstep --camera-hz 5           # camera frames gate the simulation (sim/loop.py)
    dit4dit sim-robot --no-ros --unitree-compat          # behave like Unitree's unitree_mujoco (see below)

It exits with status 0 on SIGINT/SIGTERM and when --duration wall seconds have passed.
"""
from __future__ import annotations

import argparse
import logging

from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
from dit4dit_ros.utils.process_life import stop_on_signals

LOG = logging.getLogger(__name__)
UNITREE_SIM_STATE_RATE_HZ = 200.0  # unitree_mujoco publishes rt/lowstate every 5 ms


def sim_robot_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=None, help="rt/lowstate rate in Hz (default 500; 200 with --unitree-compat)")
    p.add_argument("--duration", type=float, default=0.0, help="exit after this many wall seconds (0: run until signalled)")
    p.add_argument("--no-ros", action="store_true", help="Unitree DDS only: no rclpy, no camera, no /clock")
    p.add_argument("--no-camera", action="store_true", help="do not render the ego camera")
    p.add_argument("--task", default="reach", help="tabletop task (reach, pick_place)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--hands", choices=("task", "none", "dex3"), default="task",
                   help="wrist hands: none (rubber), dex3 (Dex3-1 on rt/dex3/*), task (the task's: dex3 for pick_place)")
    p.add_argument("--camera-width", type=int, default=224)
    p.add_argument("--camera-height", type=int, default=224)
    p.add_argument("--camera-hz", type=float, default=10.0, help="ego frames per simulated second")
    p.add_argument("--camera-shadows", action="store_true", help="shadows + reflections (about 3x render time)")
    p.add_argument("--lockstep", action="store_true", help="pause at each frame until acknowledged on /dit4dit/sim/frame_ack")
    p.add_argument("--lockstep-timeout", type=float, default=5.0, help="wall s to wait for an acknowledgement (0: forever)")
    p.add_argument("--real-time-factor", type=float, default=1.0, help="sim s per wall s (0: as fast as possible)")
    p.add_argument("--clock-hz", type=float, default=CONTROL_RATE_HZ, help="/clock rate (0: none)")
    p.add_argument("--command-timeout", type=float, default=0.2, help="sim s without commands before damping")
    p.add_argument("--start-mode", choices=("balance", "damping"), default="balance")
    p.add_argument("--mode-machine", type=int, default=None, help="robot type reported in LowState (default 5, a "
                   "29-DoF G1; 0 with --unitree-compat)")
    p.add_argument("--unitree-compat", action="store_true", help="behave like Unitree's own simulator "
                   "(unitree_mujoco): LowState at 200 Hz with crc 0 and mode_machine 0, no rt/arm_sdk reader")


def parameter_values(args: argparse.Namespace) -> dict:
    """The node's parameter values (SIM_ROBOT_PARAMETERS names) from the command line, validated."""
    from dit4dit_ros.config import defaults, validate_node_parameters
    from dit4dit_ros.sim.params import SIM_ROBOT_PARAMETERS

    values = defaults(SIM_ROBOT_PARAMETERS)
    compat = bool(getattr(args, "unitree_compat", False))
    rate = args.rate if args.rate is not None else (UNITREE_SIM_STATE_RATE_HZ if compat else CONTROL_RATE_HZ)
    mode_machine = args.mode_machine if args.mode_machine is not None else (0 if compat else 5)
    values.update(lowstate_crc=not compat, arm_sdk_reader=not compat)
    values.update(
        task=args.task, hands=args.hands, seed=args.seed, state_rate_hz=float(rate), real_time_factor=float(args.real_time_factor),
        camera_enabled=not (args.no_camera or args.no_ros), camera_width=args.camera_width,
        camera_height=args.camera_height, camera_rate_hz=float(args.camera_hz), lockstep=bool(args.lockstep),
        camera_shadows=bool(args.camera_shadows),
        lockstep_timeout=float(args.lockstep_timeout), clock_rate_hz=float(args.clock_hz),
        command_timeout=float(args.command_timeout), start_mode=args.start_mode, mode_machine=mode_machine,
        duration=float(args.duration),
    )
    problems = validate_node_parameters("sim_robot", values, SIM_ROBOT_PARAMETERS)
    if problems:
        raise SystemExit("invalid sim-robot arguments: " + "; ".join(problems))
    return values


def run_dds_only(values: dict) -> int:
    """`--no-ros`: the simulated robot on the Unitree DDS topics only, until signalled or `duration` elapses."""
    from dit4dit_ros.sim.dds_bridge import SimDdsBridge
    from dit4dit_ros.sim.loop import SimLoop
    from dit4dit_ros.sim.params import bridge_config_from_values, configs_from_values
    from dit4dit_ros.sim.robot import SimRobot

    robot_cfg, loop_cfg, seed = configs_from_values(values)
    robot = SimRobot(robot_cfg, seed=seed)
    bridge = SimDdsBridge(robot, config=bridge_config_from_values(values))
    loop = SimLoop(robot, loop_cfg, sinks=[bridge])
    try:
        # loop.stop() from a watcher thread, not the handler (it sets an Event: utils/process_life.py)
        with stop_on_signals(loop.stop):
            LOG.info("sim robot ready (DDS only)")
            stats = loop.run(values["duration"] or None)
    finally:
        bridge.close()
    LOG.info("sim robot stopped: %.2f s simulated in %.2f s wall (RTF %.2f), %d LowState, counters %s",
             stats.sim_end - stats.sim_start, stats.wall_end - stats.wall_start, stats.real_time_factor,
             bridge.published, robot.counters)
    return 0
