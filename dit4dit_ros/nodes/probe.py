"""An in-process rclpy probe of a running graph: own context, executor thread, message collectors, and a fake
LowState robot. The benches use it (`dit4dit bench safety`, `bench record`, the interlock trials) as the tests do.

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

from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
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


class FakeLowStateRobot:
    """Plays the G1's rt/lowstate (LowState_ via unitree_sdk2py) from a thread, for tests and benches.

    Valid messages at `rate_hz` while resumed (joint i at 0.01*i + a slow ramp, dq = -q, tau = 2q, IMU
    quaternion identity, gyro (0.1, 0.2, 0.3), acc (0, 0, 9.81), mode_machine 5); `send_bad(n)` writes n
    messages with a corrupted CRC whose joint 0 is BAD_CRC_MARKER; `remote` is the wireless-remote report it carries.
    Uses this process's Unitree DDS domain. The thread ends by itself after `max_seconds`. `tick` counts messages,
    or with `sim_clock` set (a callable returning seconds of simulated time) it is that time in milliseconds, like
    the simulator's LowState.
    """

    BAD_CRC_MARKER = 2.5

    def __init__(self, rate_hz: float = CONTROL_RATE_HZ, max_seconds: float = 120.0) -> None:
        from dit4dit_ros.g1.dds import LowStateWriter, init_unitree_dds
        from dit4dit_ros.g1.lowstate import new_lowstate

        init_unitree_dds()
        self.period = 1.0 / rate_hz
        self.max_seconds = max_seconds
        self.writer = LowStateWriter()
        self.msg = new_lowstate()
        self.tick = 0
        self.sim_clock: Callable[[], float] | None = None
        self.sent_valid = 0
        self.sent_bad = 0
        self.remote = bytes(40)  # set to g1.remote.encode_remote(...) bytes to press remote buttons
        self.crc_zero = False  # publish crc 0 like Unitree's simulators
        self._remote_written = bytes(40)
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-lowstate", daemon=True)
        self._thread.start()

    def _fill(self, tick: int, bad: bool) -> Any:
        import numpy as np

        from dit4dit_ros.g1.joints import NUM_JOINTS
        from dit4dit_ros.g1.lowstate import fill_lowstate

        q = 0.01 * np.arange(NUM_JOINTS) + 1e-4 * (tick % 1000)
        if bad:
            q[0] = self.BAD_CRC_MARKER
        if self.remote != self._remote_written:  # the wireless remote's 40 bytes (covered by the CRC below)
            self.msg.wireless_remote = list(self.remote)
            self._remote_written = self.remote
        fill_lowstate(self.msg, q, -q, 2 * q, np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.1, 0.2, 0.3]),
                      np.array([0.0, 0.0, 9.81]), tick=tick, mode_machine=5)
        if bad:
            self.msg.crc ^= 0x1
        elif self.crc_zero:
            self.msg.crc = 0  # what Unitree's own simulators publish
        return self.msg

    def _run(self) -> None:
        next_t = time.monotonic()
        deadline = next_t + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not self._running.wait(0.05):
                next_t = time.monotonic()
                continue
            with self._lock:
                clock = self.sim_clock
                self.tick = int(round(clock() * 1000.0)) if clock is not None else self.tick + 1
                self.writer.write(self._fill(self.tick, bad=False))
                self.sent_valid += 1
            next_t += self.period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()

    def resume(self) -> None:
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def send_bad(self, count: int) -> None:
        for i in range(count):
            with self._lock:
                self.writer.write(self._fill(100_000 + i, bad=True))
                self.sent_bad += 1
            time.sleep(self.period)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.writer.close()
