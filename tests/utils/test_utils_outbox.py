"""LatestOutbox: the simulator's physics thread hands what it sends to the ROS node to another thread and never
waits for it (a /clock publish from the physics thread once blocked for 0.5-1 s and stopped the robot's LowState;
see utils/outbox.py and sim/core_process.py)."""
from __future__ import annotations

import threading
import time

from dit4dit_ros.utils.outbox import LatestOutbox
from dit4dit_ros.utils.waiting import wait_until


def test_a_blocked_publish_never_blocks_the_poster_and_only_the_newest_value_per_key_waits():
    outbox = LatestOutbox()
    release = threading.Event()
    sent: list[tuple[str, int]] = []
    try:
        outbox.post("clock", lambda: (release.wait(30.0), sent.append(("clock", 0))))  # a publish that blocks
        wait_until(lambda: outbox.posted == 1 and not outbox._pending, 5.0, what="the first publish taken")  # noqa: SLF001
        for k in range(1, 1001):  # the physics thread goes on posting while the ROS side is stuck
            outbox.post("clock", lambda k=k: sent.append(("clock", k)))
            outbox.post("task", lambda k=k: sent.append(("task", k)))
        assert outbox.posted == 2001 and sent == []
        release.set()
        wait_until(lambda: len(sent) == 3, 5.0, what="the newest clock and task published")
        assert sent == [("clock", 0), ("clock", 1000), ("task", 1000)]
    finally:
        release.set()
        outbox.close()


def test_a_failing_publish_is_counted_and_the_others_still_go_out():
    outbox = LatestOutbox()
    sent = []
    try:
        outbox.post("bad", lambda: 1 / 0)
        outbox.post("good", lambda: sent.append(time.monotonic()))
        wait_until(lambda: sent and outbox.failures == 1, 5.0, what="the good publish after the failing one")
        assert outbox.published == 1
    finally:
        outbox.close()
