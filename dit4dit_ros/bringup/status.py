"""A live one-line status of the running graph, from its own topics.

Rates and latencies are measured where a user would see them: chunk rate and observation-to-receipt latency
from /dit4dit/action_chunk (header.stamp is the observation time), the proprioception rate from
/joint_states, the executor's mode and command rate from /dit4dit/executor/state, the instruction from its
latched topic. Without an instruction (and so without chunks) the line says so instead of empty figures.
"""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from dit4dit_ros.data.topics import ACTION_CHUNK_TOPIC, EXECUTOR_STATE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC
from dit4dit_ros.utils.stamps import stamp_to_seconds


class RateWindow:
    """Event times of the last `window` seconds -> rate in Hz (monotonic clock)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if t is None else t)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()
            n = len(self._times)
        return n / self.window


class GraphStatus:
    """Subscribes to the graph's outputs from a given rclpy node and formats the status line."""

    def __init__(self, node, instruction_topic: str = INSTRUCTION_TOPIC) -> None:
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
        from dit4dit_ros.nodes.status_msgs import EXECUTOR_STATE_TYPE

        self.node = node
        self.chunks = RateWindow()
        self.joint_states = RateWindow()
        self.latencies: deque[float] = deque(maxlen=200)
        self.executor_state: dict = {}
        self.chunk_count = 0
        self.instruction: str | None = None
        self.instruction_topic = instruction_topic
        node.create_subscription(String, instruction_topic, self._on_instruction, LATCHED)
        node.create_subscription(JointTrajectory, ACTION_CHUNK_TOPIC, self._on_chunk, COMMANDS)
        node.create_subscription(JointState, JOINT_STATES_TOPIC, lambda m: self.joint_states.tick(), SENSOR_DATA)
        node.create_subscription(EXECUTOR_STATE_TYPE, EXECUTOR_STATE_TOPIC, self._on_executor_state, SENSOR_DATA)

    def _on_chunk(self, msg) -> None:
        self.chunks.tick()
        self.chunk_count += 1
        stamp = stamp_to_seconds(msg.header.stamp)
        now = self.node.get_clock().now().nanoseconds * 1e-9
        self.latencies.append(now - stamp)

    def _on_instruction(self, msg) -> None:
        self.instruction = msg.data

    def _on_executor_state(self, msg) -> None:
        from dit4dit_ros.nodes.status_msgs import executor_state

        self.executor_state = executor_state(msg)

    def line(self) -> str:
        ex = self.executor_state
        if self.latencies:
            p50 = f"{float(np.median(np.array(self.latencies))) * 1e3:6.1f} ms"
        else:
            p50 = "     - ms"
        if self.instruction:
            goal = f"instruction={_shorten(self.instruction)!r}"
        elif self.chunk_count == 0:
            goal = f"NO INSTRUCTION: the policy waits (--instruction TEXT, type one here, or publish on {self.instruction_topic})"
        else:
            goal = "instruction=(set in the policy's parameters)"
        return (
            f"mode={ex.get('mode', '-'):<9} chunks={self.chunks.rate():4.1f} Hz (n={self.chunk_count}) "
            f"obs->chunk p50={p50}  joint_states={self.joint_states.rate():5.0f} Hz  "
            f"cmd={_rate(ex.get('command_rate_hz'))} Hz  {goal}"
        )


def _rate(value) -> str:
    try:
        return f"{float(value):5.0f}"
    except (TypeError, ValueError):
        return "    -"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
