"""`dit4dit run` publishes the instruction latched on /dit4dit/instruction and takes new ones from stdin.

The run starts only g1_state of config/g1_sim.yaml (no robot, no model: the instruction path is what is
tested). Without an instruction the status line says so (it printed `chunks=0.0 Hz p50=nan` and a numpy
warning before); a line written to the supervisor's stdin becomes the new instruction, and a subscriber that
joins later gets the newest one.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from std_msgs.msg import String

from dit4dit_ros.bringup.processes import stop_run
from dit4dit_ros.nodes.qos import LATCHED
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow


def _start(repo_root, tmp_path, *extra):
    out = open(tmp_path / "run.out", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dit4dit_ros.cli", "run", "--config", str(Path(repo_root, "config", "g1_sim.yaml")),
         "--only", "g1_state", "--duration", "120", "--log-dir", str(tmp_path / "logs"), *extra],
        stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, tmp_path / "run.out"


def test_instruction_is_latched_and_replaced_live(repo_root, tmp_path):
    proc, out = _start(repo_root, tmp_path, "--instruction", "reach the red cube")
    try:
        with RosHarness() as harness:
            first = harness.collect(String, "/dit4dit/instruction", LATCHED)
            wait_until(lambda: len(first) >= 1 or proc.poll() is not None, 60.0, what="the latched instruction")
            assert proc.poll() is None, out.read_text()
            assert first.snapshot()[-1][1].data == "reach the red cube"
            wait_until(lambda: "graph up" in out.read_text(), 60.0, what="graph up")
            proc.stdin.write(b"wave with the left hand\n")
            proc.stdin.flush()
            wait_until(lambda: first.snapshot()[-1][1].data == "wave with the left hand", 10.0,
                       what="the new instruction")
            late = harness.collect(String, "/dit4dit/instruction", LATCHED)  # joins after the change
            wait_until(lambda: len(late) >= 1, 10.0, what="the latched instruction for a late subscriber")
            assert [m.data for _, m in late.snapshot()] == ["wave with the left hand"]
            wait_until(lambda: "instruction='wave with the left hand'" in out.read_text(), 10.0,
                       what="the status line showing the new instruction")
    finally:
        stop_run(proc, grace=20.0)


def test_status_line_says_when_there_is_no_instruction(repo_root, tmp_path):
    proc, out = _start(repo_root, tmp_path)
    try:
        wait_until(lambda: "NO INSTRUCTION" in out.read_text() or proc.poll() is not None, 60.0,
                   what="a status line without instruction")
    finally:
        proc.stdin.close()
        code = stop_run(proc, grace=20.0)
    text = out.read_text()
    assert code == 0, text  # Ctrl-C is a clean stop (rclpy's own SIGINT handler used to raise under the spin)
    assert "NO INSTRUCTION: the policy waits" in text
    assert "nan" not in text and "RuntimeWarning" not in text, text


def test_a_run_started_by_a_program_ends_when_that_program_is_killed(repo_root, tmp_path):
    """start_run passes --with-parent: SIGKILL of the starting program (an evaluation) stops its graph too;
    before, `dit4dit eval` killed by a signal left the run and every node of it running."""
    import os
    import signal
    import textwrap

    from dit4dit_ros.bringup.trial_graph import process_alive

    starter = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from dit4dit_ros.bringup.processes import start_run
        run = start_run(Path({str(Path(repo_root, "config", "g1_sim.yaml"))!r}), "--only", "g1_state",
                        "--duration", "120", "--no-status", "--log-dir", {str(tmp_path / "logs")!r})
        print(run.pid, flush=True)
        time.sleep(120)
    """)
    program = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    run_pid = None
    try:
        run_pid = int(program.stdout.readline())
        log = tmp_path / "logs" / "g1_state.log"
        wait_until(lambda: log.exists() and log.stat().st_size > 0, 60.0, what="g1_state started by the run")
        os.kill(program.pid, signal.SIGKILL)
        program.wait(10)
        wait_until(lambda: not process_alive(run_pid), 30.0, what="the run gone after its starter was killed")
    finally:
        if program.poll() is None:
            program.kill()
        if run_pid is not None and process_alive(run_pid):
            os.killpg(run_pid, signal.SIGKILL)
