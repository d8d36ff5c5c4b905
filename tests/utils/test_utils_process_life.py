"""SIGTERM/SIGINT stop a process from a watcher thread, so a signal landing inside Event.set cannot deadlock it.

The CI failure this guards: the physics process's main thread was inside `Event.set()` of its stop event when
SIGTERM came; the Python handler ran right there and called `set()` on the same event, whose lock it already
held, and the process never ended (py-spy: on_signal -> Event.set -> lock).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from dit4dit_ros.utils.process_life import stop_on_signals
from dit4dit_ros.utils.waiting import wait_until

# The main thread spends nearly all its time inside Event.set/clear of the very event the stop sets: a handler
# that called stop.set() itself would land inside them and deadlock.
_BUSY_SETTER = """
import sys, threading
from dit4dit_ros.utils.process_life import stop_on_signals
stop, busy = threading.Event(), threading.Event()
stopped = []
def on_stop():
    stopped.append(1)
    stop.set()
with stop_on_signals(on_stop):
    print("ready", flush=True)
    for _ in range(50_000_000):
        if stopped:
            break
        busy.set(); stop.set(); stop.clear(); busy.clear()
print("stopped" if stopped else "ran out", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_event_set_stops_the_process(signum):
    for _ in range(4):  # a handler doing the set itself deadlocked within a few tries
        proc = subprocess.Popen([sys.executable, "-c", _BUSY_SETTER], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signum)
            out, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0 and out.strip() == "stopped", out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_the_previous_handlers_and_wakeup_fd_come_back_and_other_signals_do_not_stop():
    calls: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(lambda: calls.append(1), signals=(signal.SIGUSR1,)):
        assert signal.getsignal(signal.SIGTERM) is before  # only the named signals are taken
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_until(lambda: calls, 10, poll=0.01, what="the watcher calling stop")
    assert calls == [1]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup fd left behind
    assert not any(t.name == "stop-on-signals" and t.is_alive() for t in threading.enumerate())
