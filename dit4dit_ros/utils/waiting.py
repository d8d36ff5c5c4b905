"""Bounded waiting: every wait in this project has a deadline and a poll count, never a bare sleep."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A condition did not become true before its deadline."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    poll: float = 0.01,
    what: str = "condition",
) -> T:
    """Poll `condition` until it returns a truthy value and return that value.

    Raises WaitTimeout naming `what` after `timeout` seconds. The number of polls is bounded by
    timeout/poll + 1, so a wrong condition can never hang a test or a node's start-up.
    """
    if timeout <= 0 or poll <= 0:
        raise ValueError(f"timeout and poll must be positive, got timeout={timeout} poll={poll}")
    deadline = time.monotonic() + timeout
    max_polls = int(timeout / poll) + 2
    for _ in range(max_polls):
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(poll, remaining))
    value = condition()
    if value:
        return value
    raise WaitTimeout(f"timed out after {timeout:.2f} s waiting for {what}")
