"""A stopped reader cannot stall a writer: nodes that move no images take ROS 2 data over UDP only.

FastDDS delivers to a shared-memory reader under an interprocess mutex of the reader's port; a reader stopped
while its listener holds it (SIGSTOP, a debugger) blocks each writer that sends to it, with the GIL held by
rclpy's publish, for as long as it stays stopped. In a CI run the simulated robot missed 4 s of heartbeats behind
a SIGSTOPped monitor and the supervisor stopped the graph. Here a publisher set up as the simulated robot is
(shared memory: it moves images) floods 200 KB messages at a reader set up as the monitor, which is stopped 20
times for 0.6 s; the publisher's calls and a thread beside them must never wait for it. With the reader on
shared memory instead (set up as sim_robot), 1 of 2 runs of this test failed (a 0.60 s publish call), and with
2 s stops 4 of 15 stalled the publisher for the whole stop (2.4 s).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dit4dit_ros.node_table import uses_shared_memory
from dit4dit_ros.utils.waiting import wait_until

STOPS = 20
STOP_S = 0.6
STALL_LIMIT_S = 0.4  # a call or a thread gap this long means the writer waited for the stopped reader

_WRITER = """
import json, signal, sys, threading, time
from dit4dit_ros.utils.dds_transport import configure_ros_transport
configure_ros_transport(shared_memory=True)  # as the simulated robot and the camera: they move images
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
rclpy.init()
node = rclpy.create_node("flood_writer")
pub = node.create_publisher(String, "/flood", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
gap = [0.0]
def beat():
    last = time.monotonic()
    while not stop:
        time.sleep(0.01)
        now = time.monotonic(); gap[0] = max(gap[0], now - last); last = now
threading.Thread(target=beat, daemon=True).start()
msg = String(data="x" * 200_000)
worst = 0.0; count = 0; deadline = time.monotonic() + 180
while not stop and time.monotonic() < deadline:
    t = time.perf_counter(); pub.publish(msg); worst = max(worst, time.perf_counter() - t); count += 1
    time.sleep(0.0005)
print(json.dumps({"published": count, "worst_publish_s": worst, "worst_thread_gap_s": gap[0]}), flush=True)
"""

_READER = """
import sys
from dit4dit_ros.node_table import uses_shared_memory
from dit4dit_ros.utils.dds_transport import configure_ros_transport
configure_ros_transport(shared_memory=uses_shared_memory(sys.argv[1]))
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node(sys.argv[1])
count = [0]
def on_message(_):
    count[0] += 1
    if count[0] == 1 or count[0] % 500 == 0:
        print("received", count[0], flush=True)
node.create_subscription(String, "/flood", on_message, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


class _Lines:
    """A child's stdout lines, read by a thread (a stopped child must not block the test)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.strip())

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    proc.wait(10)


@pytest.mark.ros
def test_a_stopped_monitor_never_stalls_a_node_that_publishes_to_it():
    assert uses_shared_memory("sim_robot") and uses_shared_memory("policy")
    assert not uses_shared_memory("monitor") and not uses_shared_memory("executor")
    reader = subprocess.Popen([sys.executable, "-c", _READER, "monitor"], stdout=subprocess.PIPE, text=True)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER], stdout=subprocess.PIPE, text=True)
    try:
        reader_out, writer_out = _Lines(reader), _Lines(writer)
        wait_until(lambda: reader_out.has("received 1"), 60, poll=0.05, what="the monitor's first message")
        for _ in range(STOPS):
            os.kill(reader.pid, signal.SIGSTOP)
            time.sleep(STOP_S)  # the stop itself is what is measured
            os.kill(reader.pid, signal.SIGCONT)
            time.sleep(0.2)
        lines_before = len(reader_out.lines)
        wait_until(lambda: len(reader_out.lines) > lines_before, 60, poll=0.05, what="the monitor receiving after the stops")
        writer.send_signal(signal.SIGTERM)
        writer.wait(30)
        wait_until(lambda: writer_out.lines, 10, poll=0.05, what="the writer's figures")
        figures = json.loads(writer_out.lines[-1])
        print(f"writer beside a monitor stopped {STOPS}x{STOP_S} s: {figures}")
        assert figures["published"] > 1000, figures
        assert figures["worst_publish_s"] < STALL_LIMIT_S, f"a publish call waited for the stopped reader: {figures}"
        assert figures["worst_thread_gap_s"] < STALL_LIMIT_S, f"the writer's process stood still: {figures}"
    finally:
        _stop(writer)
        _stop(reader)
