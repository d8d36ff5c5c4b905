"""What a process did with its time, from the kernel's own accounting: tells a starved process from a blocked one.

A process whose threads all stop making progress looks the same from inside (no callback ran) whatever the
reason. The kernel knows: per thread, `/proc/<pid>/task/<tid>/schedstat` counts the nanoseconds spent running
and the nanoseconds spent runnable but waiting for a CPU, and `/proc/<pid>/stat` counts major page faults.
Over a stall of `gap` seconds:
- waited for a CPU most of it: starved (other work had the CPUs: load, a real-time task, a CPU set too small);
- ran most of it: busy (a thread computed, possibly holding the interpreter lock in C code);
- neither: blocked (every thread waited on a lock, I/O or a signal stop), or page faults if those grew.
A process can also stop through no fault of its own: the machine's side of the account says which. Per CPU,
`/proc/stat` counts steal (time a virtual CPU was runnable but its host did not run it: a thread whose wake-up
timer sits on that CPU does not wake), and `/proc/pressure/{io,memory}` count the time every task of the machine
waited for I/O or memory (pressure stall information). A blocked process beside a CPU that lost most of the gap to
its host, or beside a machine-wide I/O or memory stall, was stopped by those.
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
    steal: tuple[float, ...] = ()       # per CPU, seconds its host did not run it (empty: not known)
    stalls: tuple[tuple[str, float], ...] = ()  # ("io", s), ("memory", s): every task waited (PSI "full")


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
    return SchedSample(threads, major_faults, _steal_per_cpu(), _full_stalls())


def _steal_per_cpu() -> tuple[float, ...]:
    """Seconds of steal per CPU since boot (/proc/stat "cpuN" lines, 8th value, in USER_HZ ticks)."""
    hz = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3].isdigit()]
    except OSError:
        return ()
    return tuple(int(fields[8]) / hz for fields in lines if len(fields) > 8)


def _full_stalls() -> tuple[tuple[str, float], ...]:
    """Seconds since boot in which every non-idle task waited for I/O / memory (PSI "full" totals, in us)."""
    out = []
    for resource in ("io", "memory"):
        try:
            with open(f"/proc/pressure/{resource}") as f:
                full = next(line for line in f if line.startswith("full"))
        except (OSError, StopIteration):
            continue
        out.append((resource, int(full.rsplit("total=", 1)[1]) * 1e-6))
    return tuple(out)


def _machine(before: SchedSample, after: SchedSample) -> tuple[float, str]:
    """(the largest steal of one CPU, one phrase with each CPU's steal and the machine-wide stalls) over the gap."""
    steal = [b - a for a, b in zip(before.steal, after.steal)] if len(before.steal) == len(after.steal) else []
    stalls = dict(before.stalls)
    parts = []
    if steal:
        parts.append("host steal " + " ".join(f"cpu{i} {s:.2f} s" for i, s in enumerate(steal)))
    parts += [f"{name} stall {total - stalls[name]:.2f} s" for name, total in after.stalls if name in stalls]
    return max(steal, default=0.0), ("; machine: " + ", ".join(parts)) if parts else ""


def explain(before: SchedSample, after: SchedSample, gap: float) -> str:
    """One phrase: what the process did during `gap` seconds between two samples, and the likely kind of stall."""
    ran, waited = _delta(before, after)
    faults = after.major_faults - before.major_faults
    worst_steal, machine = _machine(before, after)
    if waited >= 0.5 * gap:
        kind = "starved: runnable but given no CPU"
    elif ran >= 0.5 * gap:
        kind = "busy: its threads computed (a call holding the interpreter lock?)"
    elif faults > 0:
        kind = "paging: waiting for page-ins"
    elif worst_steal >= 0.5 * gap:
        kind = "host: a virtual CPU was not run by its host (steal), its threads' timers with it"
    else:
        kind = "blocked: every thread waited (a lock, I/O or a signal stop)"
    return (f"{kind}; in those {gap:.2f} s its {len(after.threads)} threads ran {ran:.2f} s, waited {waited:.2f} s for a "
            f"CPU, {faults} major page faults{machine}")
