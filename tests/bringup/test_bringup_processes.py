"""The supervisor's process handling: the executor is always stopped first, hung children are killed."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from dit4dit_ros.bringup.graph import NodeSpec
from dit4dit_ros.bringup.processes import GraphProcesses
from dit4dit_ros.utils.waiting import wait_until

# A stand-in node process: on SIGINT it appends its name and the time to a file, then exits
# (or ignores SIGINT when told to hang, so that the supervisor must kill it).
CHILD = r'''
import signal, sys, time
name, out, hang = sys.argv[1], sys.argv[2], sys.argv[3] == "hang"
def stop(*_):
    with open(out, "a") as f:
        f.write(f"{name} {time.monotonic()}\n")
    if not hang:
        sys.exit(0)
signal.signal(signal.SIGINT, stop)
open(out + "." + name, "w").close()
for _ in range(600):
    time.sleep(0.05)
'''


def _spawn(procs: GraphProcesses, tmp_path: Path, name: str, hang: bool = False) -> None:
    # The script is written once: rewriting it for every child truncated the file while an earlier child's
    # interpreter could be reading it (slow to start on a loaded machine); that child ran an empty script and
    # exited without its marker (a CI failure: "stand-in nodes started" timed out, stops.g1_state missing).
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    spec = NodeSpec(name, "unused", "unused")
    # GraphProcesses.start builds a node command line; for this test start the stand-in directly.
    import subprocess

    from dit4dit_ros.bringup.processes import ChildNode

    proc = subprocess.Popen([sys.executable, str(script), name, str(tmp_path / "stops"), "hang" if hang else "ok"],
                            start_new_session=True)
    procs.children.append(ChildNode(spec, proc, tmp_path / f"{name}.log"))


def _wait_started(procs: GraphProcesses, tmp_path: Path) -> None:
    """Until every stand-in has written its marker; a stand-in that exited before that fails at once, named."""

    def started() -> bool:
        exited = [(c.spec.name, c.process.returncode) for c in procs.children
                  if c.process.poll() is not None and not (tmp_path / f"stops.{c.spec.name}").exists()]
        assert not exited, f"stand-in(s) exited before starting: {exited}"
        return all((tmp_path / f"stops.{c.spec.name}").exists() for c in procs.children)

    try:
        wait_until(started, 60, what="stand-in nodes started")
    except BaseException:
        for child in procs.children:  # leave nothing running behind a failed test
            child.process.kill()
            child.process.wait(5)
        raise


def test_executor_stops_first_then_reverse_start_order(tmp_path):
    procs = GraphProcesses(tmp_path / "logs")
    for name in ("sim_robot", "g1_state", "policy", "executor"):
        _spawn(procs, tmp_path, name)
    _wait_started(procs, tmp_path)
    codes = procs.stop_all(grace=5.0)
    order = [line.split()[0] for line in (tmp_path / "stops").read_text().splitlines()]
    assert order == ["executor", "policy", "g1_state", "sim_robot"]
    assert codes == {"executor": 0, "policy": 0, "g1_state": 0, "sim_robot": 0}
    assert procs.children == []


def test_a_child_that_ignores_sigint_is_killed(tmp_path):
    procs = GraphProcesses(tmp_path / "logs")
    _spawn(procs, tmp_path, "executor", hang=True)
    _wait_started(procs, tmp_path)
    t0 = time.monotonic()
    codes = procs.stop_all(grace=0.5)
    assert codes == {"executor": None}  # killed, not exited
    assert time.monotonic() - t0 < 10
