"""Pieces of `dit4dit bench loop` that read the running graph from outside: /proc CPU, node pids, the table."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from dit4dit_ros.bringup.bench_loop import LoopFigures, child_nodes, process_cpu_seconds
from dit4dit_ros.utils.waiting import wait_until


def test_cpu_seconds_grow_with_work_and_children_are_found_by_node_name():
    # A parent that starts two children named like graph nodes; one of them burns CPU.
    code = (
        "import subprocess, sys, time\n"
        "burn = 'import time\\nt=time.time()\\nwhile time.time()-t<30: pass'\n"
        "idle = 'import time; time.sleep(30)'\n"
        "a = subprocess.Popen([sys.executable, '-c', burn, '--ros-args', '-r', '__node:=busy'])\n"
        "b = subprocess.Popen([sys.executable, '-c', idle, '--ros-args', '-r', '__node:=idle'])\n"
        "a.wait(); b.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        nodes = wait_until(lambda: (lambda n: n if len(n) == 2 else None)(child_nodes(parent.pid)), 10, what="2 children")
        assert set(nodes) == {"busy", "idle"}
        tree0 = process_cpu_seconds(parent.pid)  # before the children's own readings: grows at least as much
        c0 = {k: process_cpu_seconds(p) for k, p in nodes.items()}
        # CPU time, not wall time: on a loaded machine the burner gets what the scheduler gives it
        wait_until(lambda: process_cpu_seconds(nodes["busy"]) - c0["busy"] > 0.3, 25, what="0.3 s of CPU burnt")
        assert process_cpu_seconds(nodes["idle"]) - c0["idle"] < 0.1
        # The parent only waits; its figure includes its children's work (a node's helper processes count).
        assert process_cpu_seconds(parent.pid) - tree0 > 0.3
    finally:
        for pid in child_nodes(parent.pid).values():
            os.kill(pid, signal.SIGKILL)
        parent.wait(timeout=20)


def test_figures_table_lists_every_figure():
    fig = LoopFigures(duration=10.0, chunks=30, chunk_latencies=[0.2, 0.3], inference_ms=[100.0, 150.0],
                      executor_tick={"period_p50": 0.002, "period_p99": 0.003, "period_max": 0.01, "overruns": 1,
                                     "ticks": 5000, "late_share": 0.0123, "work_p50": 0.0004, "work_p99": 0.0011},
                      command_rate_hz=499.0, cpu_percent={"policy": 80.0}, executor_realtime="SCHED_FIFO:80",
                      chunk_delivery={"chunks": 90, "slow": 2, "transport_p50_ms": 0.7, "transport_max_ms": 3.1,
                                      "queue_p50_ms": 5.0, "queue_max_ms": 61.25, "handoff_p50_ms": 0.2,
                                      "handoff_max_ms": 0.9})
    table = fig.table()
    assert "5.00 / 61.25 ms" in table and "0.70 / 3.10 ms" in table and "2 of 90" in table, table
    assert "late by > 1 ms" in table and "1.23 %" in table and "0.400 / 1.100 ms" in table and "SCHED_FIFO:80" in table
    assert "3.00 Hz (30 chunks" in table and "250.0 / 299.0 ms (n=2)" in table
    assert "2.00 / 3.00 / 10.00 ms" in table and "CPU policy" in table and "499.0 Hz" in table
