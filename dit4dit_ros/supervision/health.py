"""Is a supervised node alive, exited or hung? Decided from its process and its lifeline heartbeats.

A node starts beating once its event loop runs (after its constructor: loading a model can take a while, and
`dit4dit run` bounds that with its start timeout). From its first heartbeat on, silence longer than the hang
timeout means hung: a SIGSTOPped or deadlocked process that still exists, which an exit-code check alone
never notices.

A stopped process (SIGSTOP, a debugger) can also silence others: a writer that sends it data over FastDDS's
shared memory waits on a lock of its port until it runs again (utils/dds_transport.py). So when a running node
falls silent while another is stopped, the stopped one is the one judged hung (`blame_stopped`), and the
silent ones get a new hang timeout once it is dealt with: in a CI run the simulated robot, held up behind a
SIGSTOPped monitor, was judged hung right after the monitor, and the whole graph stopped for an observer.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Collection, Mapping


class Failure(str, Enum):
    EXITED = "exited"
    HUNG = "hung"


@dataclass(frozen=True)
class NodeFailure:
    node: str
    kind: Failure
    detail: str

    def __str__(self) -> str:
        return f"node {self.node} {self.kind.value}: {self.detail}"


def judge(node: str, returncode: int | None, last_heard: float | None, started: float, now: float,
          hang_timeout: float, start_timeout: float) -> NodeFailure | None:
    """The failure of one node, or None while it is healthy (or still starting within `start_timeout`).

    `returncode` is None while the process runs; `last_heard` is the monotonic time of its newest heartbeat
    (None before the first); `started` when it was started.
    """
    if returncode is not None:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        return NodeFailure(node, Failure.EXITED, how)
    if last_heard is None:
        if now - started > start_timeout:
            return NodeFailure(node, Failure.HUNG, f"no heartbeat {now - started:.1f} s after its start")
        return None
    silent = now - last_heard
    if silent > hang_timeout:
        return NodeFailure(node, Failure.HUNG, f"no heartbeat for {silent:.1f} s (hang timeout {hang_timeout:.1f} s)")
    return None


def is_stopped(pid: int) -> bool:
    """Whether process `pid` is stopped by a signal or held by a tracer (kernel state T or t); False when it
    does not exist or /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    rest = stat[stat.rfind(")") + 1:].split()  # the name, in parentheses, may itself hold spaces or ')'
    return bool(rest) and rest[0] in ("T", "t")


def blame_stopped(failures: Mapping[str, NodeFailure | None],
                  stopped: Collection[str]) -> tuple[dict[str, NodeFailure | None], set[str]]:
    """Failures after blaming stopped nodes, and the names excused (module docstring).

    When a running node is judged hung and some nodes are stopped, each stopped node is judged hung (if it is not
    already) and the running hung nodes are excused: they may be waiting on it. Otherwise nothing changes.
    """
    waiting = sorted(name for name, f in failures.items()
                     if f is not None and f.kind is Failure.HUNG and name not in stopped)
    if not waiting or not stopped:
        return dict(failures), set()
    out = dict(failures)
    for name in waiting:
        out[name] = None
    for name in stopped:
        if out.get(name) is None:
            out[name] = NodeFailure(name, Failure.HUNG, f"stopped (SIGSTOP or a debugger) while {', '.join(waiting)} "
                                    "fell silent behind it")
        else:
            out[name] = NodeFailure(name, out[name].kind, f"{out[name].detail}; stopped, with {', '.join(waiting)} "
                                    "silent behind it")
    return out, set(waiting)
