"""Real-time scheduling for the control loops: SCHED_FIFO, CPU affinity, locked memory, no GC in the tick.

Why: a 500 Hz loop at normal priority shares the CPU with everything else on the robot computer (policy,
camera driver, viewer); under load its period stretches to tens of milliseconds. Under SCHED_FIFO the kernel
runs it as soon as it wakes, ahead of every normal process. mlockall keeps its pages in RAM (no page fault in
a tick), and Python's cyclic garbage collector, which can pause for milliseconds, runs only between ticks.

Everything here is best effort: where the OS refuses (no CAP_SYS_NICE, rtprio limit 0, a container without
`--cap-add SYS_NICE --ulimit rtprio=99`), the loop runs at normal priority and one clear log line says what
was refused and how to grant it. Linux only (os.sched_setscheduler); elsewhere it reports "unavailable".
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import resource
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

log = logging.getLogger(__name__)

HOW_TO_GRANT = ("grant it with CAP_SYS_NICE (e.g. `sudo setcap cap_sys_nice+ep $(readlink -f $(which python3))`), "
                "an rtprio limit (`@dit4dit - rtprio 99` and `- memlock unlimited` in /etc/security/limits.conf, "
                "then log in again), or in Docker `--cap-add SYS_NICE --ulimit rtprio=99 --ulimit memlock=-1`")
_MCL_CURRENT, _MCL_FUTURE = 1, 2


@dataclass(frozen=True)
class RealtimeConfig:
    """How a control loop asks for real time (YAML/ROS parameters `realtime`, `realtime_priority`, ...)."""

    enabled: bool = False
    priority: int = 80  # SCHED_FIFO 1..99 (threaded IRQ handlers run at 50)
    cpus: tuple[int, ...] = ()  # CPU affinity; () = any CPU
    lock_memory: bool = True  # mlockall(MCL_CURRENT | MCL_FUTURE)

    def __post_init__(self) -> None:
        if not 1 <= int(self.priority) <= 99:
            raise ValueError(f"realtime priority must be in 1..99, got {self.priority}")
        bad = [c for c in self.cpus if not isinstance(c, int) or c < 0]
        if bad:
            raise ValueError(f"realtime cpus must be non-negative CPU numbers, got {list(self.cpus)}")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "RealtimeConfig":
        """From a node's `realtime`, `realtime_priority` and `realtime_cpus` parameter values ([-1]: any CPU)."""
        return cls(enabled=bool(values["realtime"]), priority=int(values["realtime_priority"]),
                   cpus=tuple(int(c) for c in values["realtime_cpus"] if int(c) >= 0))


@dataclass
class RealtimeReport:
    """What was granted to the calling thread/process."""

    scheduler: str = "normal"  # "SCHED_FIFO:<prio>" when granted
    cpus: tuple[int, ...] = ()
    memory_locked: bool = False
    refused: list[str] = field(default_factory=list)

    @property
    def granted(self) -> bool:
        return self.scheduler.startswith("SCHED_FIFO")

    def as_dict(self) -> dict:
        return {"scheduler": self.scheduler, "cpus": list(self.cpus), "memory_locked": self.memory_locked,
                "refused": list(self.refused)}


def _mlockall() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def apply_realtime(cfg: RealtimeConfig, what: str) -> RealtimeReport:
    """Make the calling thread real time as `cfg` asks (nothing if not enabled). Logs one line either way."""
    report = RealtimeReport()
    if not cfg.enabled:
        return report
    if cfg.cpus:
        try:
            os.sched_setaffinity(0, set(cfg.cpus))
            report.cpus = tuple(sorted(os.sched_getaffinity(0)))
        except (OSError, AttributeError) as exc:
            report.refused.append(f"CPU affinity {list(cfg.cpus)} ({exc})")
    if cfg.lock_memory:
        try:
            _mlockall()
            report.memory_locked = True
        except (OSError, AttributeError) as exc:
            report.refused.append(f"mlockall ({exc}; memlock limit {_limit(resource.RLIMIT_MEMLOCK)})")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(cfg.priority)))
        report.scheduler = f"SCHED_FIFO:{cfg.priority}"
    except (OSError, AttributeError) as exc:
        report.refused.append(f"SCHED_FIFO priority {cfg.priority} ({exc}; rtprio limit {_limit(_RLIMIT_RTPRIO)})")
    if report.refused:
        log.warning("%s: real-time scheduling refused: %s; running at normal priority where refused. To %s",
                    what, "; ".join(report.refused), HOW_TO_GRANT)
    else:
        log.info("%s: real time granted (%s, cpus %s, memory locked %s)", what, report.scheduler,
                 list(report.cpus) or "any", report.memory_locked)
    return report


def leave_realtime() -> bool:
    """Put the calling thread back at normal priority (SCHED_OTHER) if it inherited SCHED_FIFO or SCHED_RR; returns
    whether it did.

    Why: a new thread inherits its creator's scheduling, so every helper thread of a real-time process is real time
    too. A helper whose work is heavy and not time-critical (a camera's render thread: 10-100 ms of CPU a frame on
    a loaded 2-core host) must not be: at real-time priority it competes with the loop it serves and with the
    executor's control process, and together they can use up the kernel's real-time budget
    (/proc/sys/kernel/sched_rt_runtime_us, 95 %), after which every real-time task on that CPU waits for the rest of
    the period. Lowering one's own priority needs no privilege."""
    if not hasattr(os, "sched_getscheduler"):
        return False
    if os.sched_getscheduler(0) not in (os.SCHED_FIFO, os.SCHED_RR):
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


_RLIMIT_RTPRIO = getattr(resource, "RLIMIT_RTPRIO", None)


def _limit(which) -> str:
    if which is None:
        return "n/a"
    soft, _hard = resource.getrlimit(which)
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


def realtime_available(priority: int = 80) -> tuple[bool, str]:
    """Whether this process may use SCHED_FIFO at `priority` (tried on a short-lived thread, nothing kept)."""
    if not hasattr(os, "sched_setscheduler"):
        return False, "no SCHED_FIFO on this OS"
    result: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            result.append((True, f"SCHED_FIFO priority {priority} allowed (rtprio limit {_limit(_RLIMIT_RTPRIO)}, "
                                 f"memlock limit {_limit(resource.RLIMIT_MEMLOCK)})"))
        except OSError as exc:
            result.append((False, f"SCHED_FIFO priority {priority} refused ({exc}; rtprio limit "
                                  f"{_limit(_RLIMIT_RTPRIO)}): {HOW_TO_GRANT}"))

    t = threading.Thread(target=probe, name="rt-probe")
    t.start()
    t.join()
    return result[0]


class TickGc:
    """Python's cyclic GC out of the tick: after start-up `freeze()` moves every object built so far out of the
    collector's reach, `gc.disable()` stops automatic collections (which could fire inside a tick), and
    `between_ticks()` runs a young-generation collection every `every` ticks, after the command went out."""

    def __init__(self, every: int = 50) -> None:
        self.every = max(1, int(every))
        self._n = 0
        self._was_enabled = gc.isenabled()
        self.collections = 0

    def freeze(self) -> None:
        gc.collect()
        gc.freeze()
        gc.disable()

    def between_ticks(self) -> None:
        self._n += 1
        if self._n % self.every == 0:
            gc.collect(0)
            self.collections += 1
            if self._n % (self.every * 20) == 0:
                gc.collect(1)

    def restore(self) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()


__all__ = ["RealtimeConfig", "RealtimeReport", "apply_realtime", "realtime_available", "TickGc", "HOW_TO_GRANT"]
