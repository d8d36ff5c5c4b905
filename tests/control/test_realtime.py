"""utils/realtime.py and utils/cpu_hog.py: what the control loops ask of the OS, and the benches' load."""
from __future__ import annotations

import gc
import logging
import os
import threading

import pytest

from dit4dit_ros.control.rate import PeriodicThread
from dit4dit_ros.utils.cpu_hog import CpuHogs
from dit4dit_ros.utils.realtime import RealtimeConfig, TickGc, apply_realtime, leave_realtime, realtime_available


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_granted_real_time_is_the_calling_threads_and_says_so(caplog):
    ok, detail = realtime_available()
    if not ok:
        pytest.skip(f"this machine refuses SCHED_FIFO: {detail}")
    cfg = RealtimeConfig(enabled=True, priority=10, cpus=(0,), lock_memory=False)

    def probe():
        report = apply_realtime(cfg, "test thread")
        return report, os.sched_getscheduler(0), os.sched_getaffinity(0)

    with caplog.at_level(logging.INFO, logger="dit4dit_ros.utils.realtime"):
        report, policy, cpus = _in_thread(probe)
    assert report.granted and report.scheduler == "SCHED_FIFO:10" and policy == os.SCHED_FIFO and cpus == {0}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this (test) thread is untouched
    assert any("real time granted" in r.getMessage() for r in caplog.records)


def test_refused_real_time_is_one_clear_line_with_how_to_grant_it(monkeypatch, caplog):
    def refuse(*_args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, logger="dit4dit_ros.utils.realtime"):
        report = apply_realtime(RealtimeConfig(enabled=True, lock_memory=False), "the control loop")
    assert not report.granted and report.scheduler == "normal"
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1
    assert "the control loop: real-time scheduling refused: SCHED_FIFO priority 80" in lines[0]
    assert "CAP_SYS_NICE" in lines[0] and "rtprio" in lines[0] and "--cap-add SYS_NICE" in lines[0]
    ok, detail = realtime_available()
    assert not ok and "refused" in detail and "CAP_SYS_NICE" in detail


def test_a_helper_thread_of_a_real_time_thread_can_leave_real_time_and_leaves_its_creator_real_time():
    """A new thread inherits SCHED_FIFO from its creator (the render thread of a real-time physics loop);
    leave_realtime() puts that one thread back at normal priority, and is a no-op at normal priority."""
    ok, detail = realtime_available(10)
    if not ok:
        pytest.skip(f"this machine refuses SCHED_FIFO: {detail}")

    def real_time_creator():
        apply_realtime(RealtimeConfig(enabled=True, priority=10, lock_memory=False), "test creator")
        inherited = _in_thread(lambda: (os.sched_getscheduler(0), leave_realtime(), os.sched_getscheduler(0),
                                        leave_realtime()))
        return inherited, os.sched_getscheduler(0)

    (before, left, after, again), creator = _in_thread(real_time_creator)
    assert before == os.SCHED_FIFO and left and after == os.SCHED_OTHER and not again
    assert creator == os.SCHED_FIFO  # only the helper left real time
    assert not leave_realtime() and os.sched_getscheduler(0) == os.SCHED_OTHER  # this (test) thread: nothing to do


def test_disabled_real_time_asks_nothing():
    report = _in_thread(lambda: apply_realtime(RealtimeConfig(enabled=False), "x"))
    assert report.scheduler == "normal" and not report.refused


@pytest.mark.parametrize("bad", [{"priority": 0}, {"priority": 100}, {"cpus": (-1,)}])
def test_bad_real_time_settings_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="realtime"):
        RealtimeConfig(**bad)


def test_tick_gc_keeps_collections_between_ticks():
    policy = TickGc(every=5)
    try:
        policy.freeze()
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        for _ in range(12):
            policy.between_ticks()
        assert policy.collections == 2
    finally:
        policy.restore()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_periodic_thread_reports_late_share_and_what_it_was_granted():
    loop = PeriodicThread(0.002, lambda now: None, realtime=RealtimeConfig(enabled=True, priority=5, lock_memory=False))
    loop.start()
    done = threading.Event()
    # wait for 50 ticks without a sleep loop on wall time: the report counts them
    for _ in range(2000):
        if loop.report().ticks >= 50:
            break
        done.wait(0.005)
    loop.stop()
    report = loop.report()
    assert report.ticks >= 50 and 0.0 <= report.late_share <= 1.0
    assert loop.realtime is not None and (loop.realtime.granted or loop.realtime.refused)


def test_cpu_hogs_start_and_stop_exactly_their_own_processes():
    with CpuHogs(2) as hogs:
        pids = hogs.pids
        assert len(pids) == 2 and hogs.alive() == 2
        for pid in pids:
            os.kill(pid, 0)  # running
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ValueError, match="non-negative"):
        CpuHogs(-1)


def test_realtime_config_from_node_parameter_values():
    from dit4dit_ros.utils.realtime import RealtimeConfig

    any_cpu = RealtimeConfig.from_values({"realtime": True, "realtime_priority": 70, "realtime_cpus": [-1]})
    assert any_cpu.enabled and any_cpu.priority == 70 and any_cpu.cpus == ()
    pinned = RealtimeConfig.from_values({"realtime": False, "realtime_priority": 80, "realtime_cpus": [1, 0]})
    assert not pinned.enabled and pinned.cpus == (1, 0)
    with pytest.raises(ValueError, match="priority must be in 1..99"):
        RealtimeConfig.from_values({"realtime": True, "realtime_priority": 0, "realtime_cpus": [-1]})
