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
