"""`dit4dit bench safety` replays issue 19's trials (the graph trials also run, one by one, in
tests/bringup/test_supervision_graph.py); here the quick ones through the bench's own command line."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dit4dit_ros.bringup.safety_trials import TRIALS, run_trials


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dit4dit_ros.cli", "bench", "safety", *args], capture_output=True,
                          text=True, timeout=300)


def test_list_names_every_trial():
    done = _bench("--list")
    assert done.returncode == 0
    assert [line.split()[0] for line in done.stdout.splitlines()] == [t.name for t in TRIALS]


@pytest.mark.ros
def test_quick_trials_print_one_line_each_and_pass():
    names = [t.name for t in TRIALS if not t.slow]
    done = _bench("--only", ",".join(names))
    lines = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == len(names), done.stdout + done.stderr[-2000:]
    for name, line in zip(names, lines):
        assert line.startswith(f"PASS  {name} ") and "input: " in line and "reached the robot: " in line, line
    assert done.stdout.strip().endswith(f"{len(names)} passed, 0 failed") and done.returncode == 0


def test_unknown_trial_is_an_error_naming_the_known_ones(repo_root):
    with pytest.raises(ValueError, match="unknown trial.*'nope'.*supervisor-kill9"):
        run_trials(repo_root + "/config/g1_sim.yaml", ["nope"])
