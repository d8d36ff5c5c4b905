"""An in-process rclpy probe of a running graph: own context, executor thread, message collectors (the fake
LowState robot they pair with: g1/fake_lowstate_robot.py). The benches use it (`dit4dit bench safety`, `bench record`, the interlock trials) as the tests do.

Why its own Context: several harnesses (or a harness and a node under test started elsewhere) can coexist
in one process without fighting over the global default context, and shutting one down cannot break others.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

from dit4dit_ros.utils.waiting import wait_until


class Collector:
    """Keeps received messages with their receive time (time.monotonic) in a bounded deque."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.messages: deque[tuple[float, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def __call__(self, msg: Any) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), msg))

    def snapshot(self) -> list[tuple[float, Any]]:
        with self._lock:
            return list(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


class RosHarness:
    """Owns an rclpy Context and a SingleThreadedExecutor spun in a daemon thread."""

    def __init__(self, args: list[str] | None = None) -> None:
        self.context = Context()
        rclpy.init(args=args, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self.probe = self.add(Node("test_probe", context=self.context))
        self._thread = threading.Thread(target=self._spin, name="ros-harness", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down mid-spin
                if self.context.ok():
                    raise

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def make_node(self, factory: Callable[..., Node], **kwargs) -> Node:
        """Build a node class in this harness's context (`factory(context=..., **kwargs)`) and spin it."""
        return self.add(factory(context=self.context, **kwargs))

    def collect(self, msg_type: Any, topic: str, qos: QoSProfile | int = 10, maxlen: int = 10_000) -> Collector:
        collector = Collector(maxlen)
        self.probe.create_subscription(msg_type, topic, collector, qos)
        return collector

    def wait_for_publisher(self, topic: str, timeout: float = 10.0) -> None:
        wait_until(lambda: self.probe.count_publishers(topic) > 0, timeout, what=f"a publisher on {topic}")

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            self.executor.remove_node(node)
            node.destroy_node()
        self.nodes.clear()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)
        self.executor.shutdown(timeout_sec=1.0)

    def __enter__(self) -> "RosHarness":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
