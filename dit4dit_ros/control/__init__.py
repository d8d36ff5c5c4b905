"""ROS-free chunk executor: scheduling, interpolation, blending, safety filter, watchdogs and modes.

`ExecutorCore` is the entry point; `nodes/executor_node.py` is a thin rclpy/DDS shell around it.
"""
from dit4dit_ros.control.chunk import ActionChunk, ChunkSource, Verdict, validate_chunk
from dit4dit_ros.control.config import ExecutorConfig, SafetyConfig, SchedulerConfig, WatchdogConfig
from dit4dit_ros.control.executor import ACTIVE_MODES, ExecutorCore, JointCommand, MeasuredState, Mode
from dit4dit_ros.control.safety import JointLimits, SafetyFilter, check_command, check_rates

__all__ = [
    "ActionChunk",
    "ChunkSource",
    "Verdict",
    "validate_chunk",
    "ExecutorConfig",
    "SafetyConfig",
    "SchedulerConfig",
    "WatchdogConfig",
    "ExecutorCore",
    "JointCommand",
    "MeasuredState",
    "Mode",
    "ACTIVE_MODES",
    "JointLimits",
    "SafetyFilter",
    "check_command",
    "check_rates",
]
