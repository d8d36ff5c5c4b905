"""The executor's parameters, declared once (ROS-free): the node declares them, the real-time process builds
its ExecutorConfig and RealtimeConfig from the same validated values."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dit4dit_ros.config import (ParameterFileError, ParamSpec, load_parameter_file, parameters_for_node,
                                validate_node_parameters)
from dit4dit_ros.control.config import ExecutorConfig, SafetyConfig, SchedulerConfig, WatchdogConfig
from dit4dit_ros.control.interlock_params import INTERLOCK_PARAMETERS, interlock_config
from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC, COMMAND_TOPIC, ESTOP_TOPIC, EXECUTOR_STATE_TOPIC, TELEOP_TOPIC
from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, WAIST
from dit4dit_ros.utils.dds_env import MAX_CYCLONE_DOMAIN
from dit4dit_ros.utils.param_fields import from_params, param_field, param_specs

NODE_NAME = "executor"
CONTROL_PATHS = ("arm_sdk", "lowcmd")
CLOCKS = ("steady", "ros")


@dataclass(frozen=True)
class ExecutorNodeParams:
    """The executor node's own parameters: the robot interface, topics, rates, hands and the real-time process.
    The core's settings are ExecutorConfig's and its parts' fields (control/config.py)."""

    unitree_domain_id: int = param_field(
        -1,
        "CycloneDDS domain of the robot (real G1: 0); -1 = $DIT4DIT_UNITREE_DOMAIN",
        minimum=-1, maximum=MAX_CYCLONE_DOMAIN,
    )
    unitree_interface: str = param_field(
        "",
        "network interface to the robot ('lo' in sim); empty = $DIT4DIT_UNITREE_INTERFACE",
    )
    lowstate_topic: str = param_field("rt/lowstate", "Unitree DDS topic of LowState_")
    control_path: str = param_field(
        "arm_sdk",
        "rt/arm_sdk (upper body, robot balances itself) or rt/lowcmd (all motors: robot on a gantry only)",
        choices=CONTROL_PATHS,
    )
    mode_pr: int = param_field(0, "LowCmd mode_pr: 0 = pitch/roll ankle+waist, 1 = A/B motors", minimum=0, maximum=1)
    controllable_joints: tuple[str, ...] = param_field(
        ("auto",),
        "G1 joint names chunks/teleop may command; ['auto'] = waist+arms on arm_sdk, all 29 on lowcmd",
        type="str_array",
    )
    clock: str = param_field(
        "steady",
        "time base of chunk stamps, state ages and watchdogs: 'steady' (monotonic; the robot) or 'ros' (the "
        "node's ROS clock: follows a lock-stepped simulator's /clock, no ticks while it is frozen)",
        choices=CLOCKS,
    )
    tick_rate: float = param_field(
        500.0,
        "control rate [Hz] (the G1 low-level loop runs at 500 Hz)",
        minimum=50.0, maximum=1000.0,
    )
    auto_enable: bool = param_field(
        False,
        "enable as soon as a valid LowState arrives (demos; otherwise call ~/enable)",
    )
    chunk_topic: str = param_field(ACTION_CHUNK_TOPIC, "trajectory_msgs/JointTrajectory action chunks")
    teleop_topic: str = param_field(TELEOP_TOPIC, "sensor_msgs/JointState teleop joint targets")
    estop_topic: str = param_field(ESTOP_TOPIC, "std_msgs/Bool: True latches the e-stop")
    state_topic: str = param_field(EXECUTOR_STATE_TOPIC, "diagnostic_msgs/DiagnosticStatus executor state")
    command_topic: str = param_field(
        COMMAND_TOPIC,
        "sensor_msgs/JointState of the tracking commands actually sent (position=q, velocity=dq, effort=tau) "
        "for recording; empty = off",
    )
    command_topic_rate: float = param_field(
        100.0,
        "rate of command_topic [Hz], decimated from the control rate",
        minimum=1.0, maximum=1000.0,
    )
    default_action_period: float = param_field(
        1.0 / 30.0,
        "spacing of chunk points whose time_from_start are all 0 [s]",
        minimum=0.001, maximum=1.0,
    )
    state_rate: float = param_field(10.0, "rate of the state topic [Hz]", minimum=0.5, maximum=100.0)
    diagnostics_period_s: float = param_field(1.0, "period of /diagnostics reports [s]", minimum=0.05, maximum=60.0)
    gravity_compensation_joints: tuple[str, ...] = param_field(
        ("auto",),
        "G1 joint names that get the feed-forward torque; ['auto'] = the joints the control path commands "
        "(waist+arms on arm_sdk, all 29 on lowcmd)",
        type="str_array",
    )
    hands: str = param_field(
        "none",
        "none: no hands; dex3: the Dex3-1 hands on rt/dex3/* (gripper columns of chunks and teleop gripper "
        "setpoints, under the same modes and limits; gravity model with the hands)",
        choices=("none", "dex3"),
    )
    realtime: bool = param_field(
        False,
        "run the control process under SCHED_FIFO with locked memory (where the OS permits; one log line says"
        " what was refused and how to grant it)",
    )
    realtime_priority: int = param_field(80, "SCHED_FIFO priority of the control process", minimum=1, maximum=99)
    realtime_cpus: tuple[int, ...] = param_field(
        (-1,),
        "CPUs the control process may run on; [-1] = any",
        type="int_array", minimum=-1, maximum=1023,
    )
    command_echo: bool = param_field(
        False,
        "simulation only (needs clock 'ros'): answer each LowState with exactly one command computed at its tick, "
        "and echo that tick and the newest chunk's stamp in the LowCmd reserve words, so that a command-stepped "
        "simulator (sim_robot command_stepped) steps its physics by them",
    )
    node_heartbeat_timeout: float = param_field(
        2.0,
        "the control process disables (damping ramp, then nothing sent) when the node's heartbeat is older than"
        " this [s] (the node hung or stalled); it goes on and takes the node's requests when the node beats again"
        " (its death is noticed at once and ends the process)",
        minimum=0.1, maximum=60.0,
    )


PARAMETERS: tuple[ParamSpec, ...] = (
    *param_specs(ExecutorNodeParams),
    # soft start, disable ramp, gains, gravity feed-forward (on in a deployment: the robot would sag without it)
    *param_specs(ExecutorConfig, defaults={"gravity_compensation": True}),
    *param_specs(SafetyConfig),  # the safety filter: position margin, velocity/acceleration/torque caps
    *param_specs(SchedulerConfig),  # chunk blending, teleop priority, latency, ensembling
    *param_specs(WatchdogConfig),  # input, hold and LowState timeouts, invalid-state limit
) + INTERLOCK_PARAMETERS


def executor_config(p: dict) -> ExecutorConfig:
    """The ExecutorConfig of validated parameter values (raises ValueError naming what is inconsistent)."""
    controllable = tuple(p["controllable_joints"])
    path_joints = WAIST + ARMS if p["control_path"] == "arm_sdk" else JOINT_NAMES
    if controllable == ("auto",):
        controllable = path_joints
    if p.get("command_echo") and p.get("clock") != "ros":
        raise ValueError(f"command_echo answers the simulator's LowState ticks: it needs clock 'ros', got {p.get('clock')!r}")
    gravity_joints = tuple(p["gravity_compensation_joints"])
    if gravity_joints == ("auto",):
        gravity_joints = path_joints
    return from_params(
        ExecutorConfig, p,
        tick_period=1.0 / p["tick_rate"],
        controllable_joints=controllable,
        gravity_joints=gravity_joints,
        safety=from_params(SafetyConfig, p),
        scheduler=from_params(SchedulerConfig, p),
        watchdog=from_params(WatchdogConfig, p),
        interlocks=interlock_config(p),
    )


def defaults() -> dict:
    """Every parameter at its default value."""
    return {spec.name: spec.default for spec in PARAMETERS}


def hands_parameters(hands: str) -> dict[str, Any]:
    """The executor parameters a deployment changes for a robot with `hands` ("none" or "dex3").

    With the Dex3-1 hands the executor drives them (the chunks' gripper columns) and sends gravity feed-forward on
    every joint of its control path: chunks of hand tasks are the arm poses themselves, since folding gravity into
    the position command (q + g/kp, what the reach data does) leaves the heavier arms' shoulders 0.15-0.2 rad from
    their command, which the no-effect interlock reads as commands being ignored. The graph evaluation and the
    in-process episode runner both take these, so they drive the same plant.
    """
    if hands == "none":
        return {}
    if hands == "dex3":
        return {"hands": "dex3", "gravity_compensation_joints": ["auto"]}
    raise ValueError(f"hands must be 'none' or 'dex3', got {hands!r}")


def executor_config_from_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExecutorConfig:
    """The ExecutorConfig the executor node runs with the deployment file `path` (its `executor` section over the
    defaults) and `overrides`, checked like the node checks them (ParameterFileError naming the file and key)."""
    values = parameters_for_node(load_parameter_file(path), NODE_NAME)
    values.update(overrides or {})
    problems = validate_node_parameters(NODE_NAME, values, PARAMETERS)
    if problems:
        raise ParameterFileError(f"{path}: " + "; ".join(problems))
    merged = defaults()
    merged.update(values)
    return executor_config(merged)


__all__ = ["NODE_NAME", "CONTROL_PATHS", "CLOCKS", "PARAMETERS", "executor_config", "defaults",
           "hands_parameters", "executor_config_from_file"]
