"""A node whose event loop stalls writes every thread's stack to stderr, naming the callback that held it."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from dit4dit_ros.nodes.stall_watch import StallWatch

    def block_the_loop():
        time.sleep(1.5)

    rclpy.init()
    node = Node("stall_probe")
    watch = StallWatch(node, dump_after=0.5, period=0.05)
    ticks = {"n": 0}

    def tick():
        ticks["n"] += 1
        if ticks["n"] == 20:  # about 1 s in: one callback holds the loop for 1.5 s
            block_the_loop()

    node.create_timer(0.05, tick)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    deadline = time.monotonic() + 30.0
    while ticks["n"] < 40 and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    print(f"ticks={ticks['n']} stalls={watch.stalls} longest={watch.longest:.2f}", flush=True)
    watch.close()
    node.destroy_node()
    rclpy.shutdown()
""")


def test_a_stalled_event_loop_dumps_the_stack_that_holds_it():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.search(r"ticks=(\d+) stalls=(\d+) longest=([\d.]+)", proc.stdout)
    assert found, proc.stdout + proc.stderr[-3000:]
    ticks, stalls, longest = int(found[1]), int(found[2]), float(found[3])
    assert ticks >= 40, proc.stdout
    assert stalls >= 1 and longest >= 1.5, proc.stdout
    # faulthandler's dump (its header), with the blocking callback in it
    assert "Timeout (" in proc.stderr, proc.stderr[-3000:]
    assert "block_the_loop" in proc.stderr, proc.stderr[-3000:]
    assert "event loop stalled for" in proc.stderr  # the node's own log line once the loop ran again
