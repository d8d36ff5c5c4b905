"""A node whose event loop stalls writes every thread's stack to stderr, naming the callback that held it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import os
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from dit4dit_ros.nodes.stall_watch import StallWatch

    def block_the_loop():
        how, end = os.environ["STALL_HOW"], time.monotonic() + 1.5
        if how == "sleep":
            time.sleep(1.5)
        elif how == "spin":  # computes, holding the interpreter lock
            while time.monotonic() < end:
                pass
        else:  # "starved": a SCHED_FIFO busy process takes this process's only CPU for 1.5 s while it wants to run
            os.sched_setaffinity(0, {0})
            hog = os.fork()
            if hog == 0:
                os.sched_setaffinity(0, {0})
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
                while time.monotonic() < end:
                    pass
                os._exit(0)
            while time.monotonic() < end:  # runnable throughout, on the CPU the hog holds
                pass
            os.waitpid(hog, 0)

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
    print(f"explained: {watch.last_explanation}", flush=True)
    watch.close()
    node.destroy_node()
    rclpy.shutdown()
""")


def _can_use_sched_fifo() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (PermissionError, OSError):
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


# how the loop is held -> the kernel's account the watch must give
KINDS = {"sleep": "blocked: every thread waited", "spin": "busy: its threads computed",
         "starved": "starved: runnable but given no CPU"}


@pytest.mark.parametrize("how", list(KINDS))
def test_a_stalled_event_loop_dumps_the_stack_that_holds_it_and_says_why(how):
    if not sys.platform.startswith("linux"):
        pytest.skip("the kernel's scheduler accounting (/proc/<pid>/task/*/schedstat) is Linux's")
    if how == "starved" and not _can_use_sched_fifo():
        pytest.skip("starving the probe needs SCHED_FIFO (root or CAP_SYS_NICE), refused here")
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "STALL_HOW": how})
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
    assert f"explained: {KINDS[how]}" in proc.stdout, proc.stdout
