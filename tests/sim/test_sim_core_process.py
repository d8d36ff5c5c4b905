"""The simulated robot's physics runs in a process of its own, without rclpy (sim/core_process.py): a ROS node that
hangs must not stop the robot, the physics must not outlive its node, and a physics process that cannot start
says why."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dit4dit_ros.bringup.bench_loop import descendants
from dit4dit_ros.config import defaults
from dit4dit_ros.g1.dds import LowStateLog, init_unitree_dds
from dit4dit_ros.sim.core_link import SimCoreClient, SimCoreError
from dit4dit_ros.sim.params import SIM_ROBOT_PARAMETERS
from dit4dit_ros.sim.process import SimRobotProcess
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.slow


def _physics_process(node_pid: int) -> int:
    """The node's physics process: its descendant running dit4dit_ros.sim.core_process."""
    for child in descendants(node_pid):
        try:
            if b"dit4dit_ros.sim.core_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def sim_node():
    init_unitree_dds()
    proc = SimRobotProcess(["--camera-width", "64", "--camera-height", "48", "--camera-hz", "20",
                            "--duration", "90"]).start()
    arrivals = LowStateLog()
    try:
        wait_until(lambda: len(arrivals) > 50 or not proc.alive, 60.0, poll=0.05, what="LowState flowing")
        assert proc.alive, proc.log()
        yield proc, arrivals
    finally:
        if proc.alive:
            os.kill(proc.process.pid, signal.SIGCONT)
        proc.stop()
        arrivals.close()


def test_a_hung_ros_node_never_stops_the_simulated_robot(sim_node):
    proc, arrivals = sim_node
    physics = wait_until(lambda: _physics_process(proc.process.pid), 10.0, what="the physics process")
    os.kill(proc.process.pid, signal.SIGSTOP)  # the ROS node hangs: nobody reads the frames, clock and status
    t0 = time.monotonic()
    try:
        time.sleep(3.0)  # the pipe to the node fills within this time (20 frames/s of 64x48 plus the 500 Hz clock)
        t1 = time.monotonic()
    finally:
        os.kill(proc.process.pid, signal.SIGCONT)
    during = arrivals.received_between(t0, t1)
    # 500 Hz for 3 s is 1500 samples; a stalled physics loop (the old in-node thread) delivered none.
    assert len(during) > 750, f"{len(during)} LowState samples in 3 s while the ROS node was stopped"
    gaps = [b - a for a, b in zip([t0, *during], [*during, t1])]
    assert max(gaps) < 0.3, f"LowState went silent for {max(gaps) * 1e3:.0f} ms while the ROS node was stopped"
    assert _alive(physics)
    # The node comes back and catches up; the robot was never interrupted.
    n = len(arrivals)
    wait_until(lambda: len(arrivals) > n + 100 and proc.alive, 10.0, what="LowState after the node resumed")


def test_the_physics_process_ends_with_its_node(sim_node):
    proc, arrivals = sim_node
    physics = wait_until(lambda: _physics_process(proc.process.pid), 10.0, what="the physics process")
    proc.process.kill()  # SIGKILL: the node cannot stop its child itself
    proc.process.wait(timeout=10.0)
    wait_until(lambda: not _alive(physics), 15.0, what=f"physics process {physics} gone after its node was killed")
    n = len(arrivals)
    time.sleep(0.5)
    assert len(arrivals) - n < 5, "LowState still flowing after the node and its physics were gone"


def test_a_physics_process_that_cannot_start_says_why():
    values = defaults(SIM_ROBOT_PARAMETERS)
    values.update(task="no_such_task", camera_enabled=False)
    with pytest.raises(SimCoreError, match="no_such_task"):
        SimCoreClient(values, on_message=lambda msg: None, start_timeout=60.0)
