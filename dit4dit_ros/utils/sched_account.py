"""What a process did with its time, from the kernel's own accounting: tells a starved process from a blocked one.

A process whose threads all stop making progress looks the same from inside (no callback ran) whatever the
reason. The kernel knows: per thread, `/proc/<pid>/task/<tid>/schedstat` counts the nanoseconds spent running
and the nanoseconds spent runnable but waiting for a CPU, and `/proc/<pid>/stat` counts major page faults.
Over a stall of `gap` seconds:
- waited for a CPU most of it: starved (other work had the CPUs: load, a real-time task, a CPU set too small);
- ran most of it: busy (a thread computed, possibly holding the interpreter lock in C code);
- neither: blocked (every thread waited on a lock, I/O or a signal stop), or page faults if those grew.
Linux only; elsewhere `sample` gives None and nothing is classified.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class SchedSample:
    """Per-thread counters of one process at one moment (threads come and go: deltas are taken per thread)."""

    threads: dict[int, tuple[int, int]]  # tid -> (ns on a CPU, ns runnable waiting for a CPU)
    major_faults: int                   # page faults that needed I/O, the whole process


def _delta(before: SchedSample, after: SchedSample) -> tuple[float, float]:
    """Seconds run and waited between two samples by the threads of `after` (a new thread counts from 0)."""
    ran = waited = 0
    for tid, (run, wait) in after.threads.items():
        run0, wait0 = before.threads.get(tid, (0, 0))
        ran, waited = ran + run - run0, waited + wait - wait0
    return ran * 1e-9, waited * 1e-9


def sample(pid: int | str = "self") -> SchedSample | None:
    """The process's totals now, or None where /proc has no scheduler statistics."""
    base = f"/proc/{pid}"
    threads: dict[int, tuple[int, int]] = {}
    try:
        tids = os.listdir(f"{base}/task")
        with open(f"{base}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"{base}/task/{tid}/schedstat") as f:
                fields = f.read().split()
        except OSError:  # the thread ended between listing and reading
            continue
        threads[int(tid)] = (int(fields[0]), int(fields[1]))
    # fields after the command name (which may hold spaces): state is [0], majflt is field 12 of stat(5) -> [9]
    major_faults = int(stat[stat.rfind(")") + 2:].split()[9])
    return SchedSample(threads, major_faults)


def explain(before: SchedSample, after: SchedSample, gap: float) -> str:
    """One phrase: what the process did during `gap` seconds between two samples, and the likely kind of stall."""
    ran, waited = _delta(before, after)
    faults = after.major_faults - before.major_faults
    if waited >= 0.5 * gap:
        kind = "starved: runnable but given no CPU"
    elif ran >= 0.5 * gap:
        kind = "busy: its threads computed (a call holding the interpreter lock?)"
    elif faults > 0:
        kind = "paging: waiting for page-ins"
    else:
        kind = "blocked: every thread waited (a lock, I/O or a signal stop)"
    return (f"{kind}; in those {gap:.2f} s its {len(after.threads)} threads ran {ran:.2f} s, waited {waited:.2f} s for a "
            f"CPU, {faults} major page faults")
