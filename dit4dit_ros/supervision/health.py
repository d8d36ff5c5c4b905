"""Is a supervised node alive, exited or hung? Decided from its process and its lifeline heartbeats.

A node starts beating once its event loop runs (after its constructor: loading a model can take a while, and
`dit4dit run` bounds that with its start timeout). From its first heartbeat on, silence longer than the hang
timeout means hung: a SIGSTOPped or deadlocked process that still exists, which an exit-code check alone
never notices.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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
