"""The kernel's account of a stall: deltas per thread (threads come and go), and the kind of stall it shows."""
from __future__ import annotations

import sys
import time

import pytest

from dit4dit_ros.utils.sched_account import SchedSample, explain, sample

S = 1_000_000_000  # ns


def test_a_thread_that_ended_or_started_does_not_skew_the_account():
    before = SchedSample({1: (5 * S, 1 * S), 2: (9 * S, 0)}, major_faults=3)
    after = SchedSample({1: (5 * S, 1 * S), 3: (S // 10, 0)}, major_faults=3)  # 2 ended, 3 is new
    text = explain(before, after, gap=2.0)
    assert text.startswith("blocked"), text
    assert "ran 0.10 s, waited 0.00 s" in text, text


@pytest.mark.parametrize("after,kind", [
    (SchedSample({1: (S, 3 * S)}, 0), "starved"),
    (SchedSample({1: (3 * S, S)}, 0), "busy"),
    (SchedSample({1: (S, S)}, 40), "paging"),
])
def test_the_kind_of_stall(after, kind):
    assert explain(SchedSample({1: (S, S)}, 0), after, gap=2.0).startswith(kind)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/<pid>/task/*/schedstat is Linux's")
def test_this_process_run_time_grows_with_work():
    first = sample()
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        pass
    second = sample()
    assert first is not None and second is not None
    assert explain(first, second, gap=0.2).startswith(("busy", "starved")), explain(first, second, gap=0.2)


def test_a_process_stopped_by_a_cpu_its_host_did_not_run_is_named_so():
    before = SchedSample({1: (S, S)}, 0, steal=(10.0, 3.0), stalls=(("io", 5.0), ("memory", 1.0)))
    after = SchedSample({1: (S, S)}, 0, steal=(10.1, 5.0), stalls=(("io", 5.25), ("memory", 1.0)))
    text = explain(before, after, gap=2.1)
    assert text.startswith("host"), text
    assert "host steal cpu0 0.10 s cpu1 2.00 s" in text and "io stall 0.25 s" in text, text
    # the same gap with little steal is a blocked process, with the machine's figures still given
    calm = SchedSample({1: (S, S)}, 0, steal=(10.1, 3.2), stalls=(("io", 5.0), ("memory", 1.0)))
    text = explain(before, calm, gap=2.1)
    assert text.startswith("blocked") and "cpu1 0.20 s" in text, text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_the_machine_side_is_sampled_per_cpu():
    now = sample()
    assert now is not None
    with open("/proc/stat") as f:
        cpus = [line for line in f if line.startswith("cpu") and line[3].isdigit()]
    assert len(now.steal) == len(cpus) >= 1
    assert all(s >= 0 for s in now.steal)
