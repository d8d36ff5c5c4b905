"""The sim robot's parameters, declared once (ROS-free) for the node, the CLI and the YAML checker."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.sim.camera import CameraConfig
from dit4dit_ros.sim.dds_bridge import BridgeConfig
from dit4dit_ros.sim.loop import LoopConfig
from dit4dit_ros.sim.robot import SimRobotConfig
from dit4dit_ros.g1.model import HAND_MODELS
from dit4dit_ros.sim.tasks import task_scene
from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC
from dit4dit_ros.utils.param_fields import from_params, param_field, param_specs

TASK_HANDS = "task"  # the `hands` value that takes the task's own scene (pick_place: dex3, reach: none)

@dataclass(frozen=True)
class SimNodeParams:
    """The sim robot node's settings that are not its cores' (SimRobotConfig, LoopConfig, BridgeConfig): hands,
    seed, the ego and scene cameras, the lock-step chunk topic, duration, the physics process's real-time scheduling
    and its ROS addresses."""

    hands: str = param_field(
        TASK_HANDS,
        "hands on the wrists: none (rubber hands), dex3 (Dex3-1, rt/dex3/* on DDS) or task (the task's scene:"
        " dex3 for pick_place)",
        choices=(TASK_HANDS, *HAND_MODELS),
    )
    seed: int = param_field(0, "seed of the first episode; the k-th reset uses seed + k", minimum=0, maximum=2**31 - 1)
    camera_enabled: bool = param_field(True, "render and publish the ego camera")
    camera_width: int = param_field(224, "ego image width [px]", minimum=16, maximum=1920)
    camera_height: int = param_field(224, "ego image height [px]", minimum=16, maximum=1080)
    camera_rate_hz: float = param_field(10.0, "ego frames per simulated second", minimum=0.5, maximum=60.0)
    camera_shadows: bool = param_field(False, "render shadows and floor reflections (about 3x the render time)")
    jpeg_quality: int = param_field(
        80,
        "JPEG quality of the <image topic>/compressed streams (0: none published)",
        minimum=0, maximum=100,
    )
    scene_camera_enabled: bool = param_field(
        False,
        "render a third-person view of the scene (rollout videos, viewers); rendered after the ego frame, it "
        "never changes the ego images",
    )
    scene_camera_width: int = param_field(320, "scene view width [px]", minimum=16, maximum=1920)
    scene_camera_height: int = param_field(240, "scene view height [px]", minimum=16, maximum=1080)
    scene_camera_rate_hz: float = param_field(10.0, "scene views per simulated second", minimum=0.5, maximum=60.0)
    lockstep_chunk_topic: str = param_field(
        ACTION_CHUNK_TOPIC,
        "lock-step: an action chunk (JointTrajectory) stamped >= a frame's stamp also acknowledges it ('' = "
        "only /dit4dit/sim/frame_ack)",
    )
    duration: float = param_field(
        0.0,
        "stop after this many wall seconds (0: run until shut down)",
        minimum=0.0, maximum=1e7,
    )
    realtime: bool = param_field(
        False,
        "run the physics process (physics + LowState loop) under SCHED_FIFO with locked memory (where the OS "
        "permits; one log line says what was refused and how to grant it)",
    )
    realtime_priority: int = param_field(
        70,
        "SCHED_FIFO priority of the physics process (below the executor's)",
        minimum=1, maximum=99,
    )
    realtime_cpus: tuple[int, ...] = param_field(
        (-1,),
        "CPUs the physics process may run on; [-1] = any",
        type="int_array", minimum=-1, maximum=1023,
    )


SIM_ROBOT_PARAMETERS: tuple[ParamSpec, ...] = (
    *param_specs(SimRobotConfig),
    *param_specs(LoopConfig),
    *param_specs(BridgeConfig),
    *param_specs(SimNodeParams),
)


def configs_from_values(values: Mapping[str, Any]) -> tuple[SimRobotConfig, LoopConfig, int]:
    """(robot config, loop config, first seed) from parameter values (names of SIM_ROBOT_PARAMETERS)."""
    camera = None
    if values["camera_enabled"]:
        camera = CameraConfig(width=int(values["camera_width"]), height=int(values["camera_height"]),
                              rate_hz=float(values["camera_rate_hz"]), shadows=bool(values["camera_shadows"]),
                              reflections=bool(values["camera_shadows"]))
    scene_camera = None
    if values["scene_camera_enabled"]:
        scene_camera = CameraConfig(width=int(values["scene_camera_width"]), height=int(values["scene_camera_height"]),
                                    rate_hz=float(values["scene_camera_rate_hz"]))
    hands = values.get("hands", TASK_HANDS)
    scene = task_scene(values["task"], **({} if hands == TASK_HANDS else {"hands": hands}))
    robot = from_params(SimRobotConfig, values, scene=scene)
    loop = from_params(LoopConfig, values, camera=camera, scene_camera=scene_camera)
    return robot, loop, int(values["seed"])


def bridge_config_from_values(values: Mapping[str, Any]) -> BridgeConfig:
    """How the DDS side behaves (the robot, or Unitree's own simulator) from parameter values."""
    return from_params(BridgeConfig, values)
