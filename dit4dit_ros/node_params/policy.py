"""The policy node's ROS parameters beyond observation pairing (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC, IMAGE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC
from dit4dit_ros.engine.factory import ENGINE_KINDS
from dit4dit_ros.engine.manifest import PRECISIONS
from dit4dit_ros.policy.action_limits import ACTION_RANGE_CHECKS
from dit4dit_ros.utils.param_fields import param_field


@dataclass(frozen=True)
class PolicyNodeParams:
    """The policy node's parameters beyond observation pairing (policy ObservationConfig): checkpoint, engine,
    rate, topics.
    """

    checkpoint: str = param_field(
        "",
        "checkpoint directory (config.json, model.safetensors, normalization, prompt cache)",
    )
    engine: str = param_field(
        "torch",
        "inference backend; onnxruntime and tensorrt run the graphs exported next to the checkpoint (`dit4dit"
        " export-engine`)",
        choices=ENGINE_KINDS,
    )
    precision: str = param_field(
        "fp32",
        "precision of the engine: the torch weights' dtype, or which exported graphs "
        "(engines/<engine>-<precision>) to run",
        choices=PRECISIONS,
    )
    device: str = param_field("cpu", "device of the engine (cpu, cuda, cuda:0); tensorrt needs cuda")
    rate_hz: float = param_field(6.0, "chunks per second; 0 = as fast as the model runs", minimum=0.0, maximum=100.0)
    instruction: str = param_field("", "initial instruction (else wait for instruction_topic)")
    image_topic: str = param_field(IMAGE_TOPIC, "ego camera image (rgb8 or bgr8)")
    joint_states_topic: str = param_field(JOINT_STATES_TOPIC, "robot joint states")
    joint_states_reliable: bool = param_field(
        True,
        "subscribe to the joint states RELIABLE (the publisher resends what was lost; g1_state publishes RELIABLE): "
        "a lock-stepped simulation waits for the state of each frame's time, and a best-effort reader lost bursts of "
        "them on a busy host; false only for a driver that offers best effort alone")
    instruction_topic: str = param_field(INSTRUCTION_TOPIC, "latched language goal (std_msgs/String)")
    chunk_topic: str = param_field(ACTION_CHUNK_TOPIC, "output action chunks (trajectory_msgs/JointTrajectory)")
    num_threads: int = param_field(
        0,
        "CPU threads of the engine (torch intra-op, ONNX Runtime intra-op; 0 = the library's default); 1 "
        "leaves cores to the simulator and the 500 Hz executor on a small machine",
        minimum=0, maximum=256,
    )
    noise_seed: int = param_field(
        -1,
        "initial noise of each chunk: -1 = the engine's random generator; >= 0 = drawn from this seed and a hash of "
        "the observation (policy/runner.py observation_seed), so that a command-stepped simulation repeats exactly",
        minimum=-1, maximum=2**31 - 1,
    )
    blind: bool = param_field(False, "evaluation baseline: replace every camera image by a constant grey (same stamps)")
    action_range_check: str = param_field(
        "refuse",
        "when the checkpoint's action range exceeds the joint limits: refuse to start, or clamp every chunk "
        "to the limits (and say so loudly)",
        choices=ACTION_RANGE_CHECKS,
    )
    action_range_tolerance: float = param_field(
        0.1,
        "how far [rad] the action range may exceed a joint's limits",
        minimum=0.0, maximum=1.0,
    )
