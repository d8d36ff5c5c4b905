"""A lifeline between the supervisor (`dit4dit run`) and each node process it starts: both notice the other's
death or hang, without ROS.

Why: children start in their own session (a Ctrl-C in the terminal reaches only the supervisor), so when the
supervisor is killed they are re-parented to PID 1 and, without a lifeline, the executor kept commanding the
robot with nobody watching (4,199 commands in 40 s after a kill -9). And a SIGSTOPped node was never noticed.

Mechanism: one AF_UNIX socketpair per child. The supervisor keeps one end, the child inherits the other (its
descriptor number and the timing are passed in the environment). Each side writes one byte per heartbeat
period and reads the other's bytes:
- death of either side closes its end (the kernel does it, even on kill -9): the other reads EOF at once;
- a hang (SIGSTOP, deadlock) stops the bytes: the other notices after its timeout;
- the child also asks the kernel for SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG), which works even
  if none of its Python threads gets to run, and re-checks getppid() after arming it (the parent may have died
  before).
A node that loses its supervisor raises SIGTERM in itself, so it goes through its normal shutdown path (the
executor damps, then stops; the recorder finishes its episode), with a hard exit if that does not end in time.
"""
from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

LOG = logging.getLogger(__name__)

ENV_FD = "DIT4DIT_SUPERVISOR_FD"
ENV_PID = "DIT4DIT_SUPERVISOR_PID"
ENV_PERIOD = "DIT4DIT_SUPERVISOR_PERIOD"
ENV_TIMEOUT = "DIT4DIT_SUPERVISOR_TIMEOUT"
LIFELINE_ENV = (ENV_FD, ENV_PID, ENV_PERIOD, ENV_TIMEOUT)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
BEAT = b"."
HARD_EXIT_CODE = 70  # the node did not finish its shutdown in time after losing its supervisor


@dataclass(frozen=True)
class LifelineTiming:
    """How often each side beats and how long the other waits before calling it hung."""

    period: float = 0.2
    timeout: float = 3.0

    def __post_init__(self) -> None:
        if not 0.01 <= self.period <= 10.0:
            raise ValueError(f"lifeline heartbeat period must be in 0.01..10 s, got {self.period}")
        if self.timeout < 3 * self.period:
            raise ValueError(f"lifeline timeout {self.timeout} s must be at least 3 heartbeat periods ({self.period} s)")


def _send_beat(sock: socket.socket) -> bool:
    """One non-blocking heartbeat byte; False when the other end is gone. A full buffer (the other side is
    stopped and not reading) is not an error: it will see the backlog, or nothing, when it runs again."""
    try:
        sock.send(BEAT)
        return True
    except BlockingIOError:
        return True
    except OSError:
        return False


class ChildLink:
    """The supervisor's end of one child's lifeline."""

    def __init__(self, timing: LifelineTiming) -> None:
        self.timing = timing
        self._mine, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._mine.setblocking(False)
        self.last_heard: float | None = None  # time.monotonic() of the child's newest heartbeat
        self.closed = False  # the child's end closed: it exited (or closed it)
        self._lock = threading.Lock()

    def child_fd(self) -> int:
        """The descriptor to hand to the child (subprocess pass_fds)."""
        return self._theirs.fileno()

    def child_environment(self, supervisor_pid: int | None = None) -> dict[str, str]:
        return {
            ENV_FD: str(self.child_fd()),
            ENV_PID: str(os.getpid() if supervisor_pid is None else supervisor_pid),
            ENV_PERIOD: repr(self.timing.period),
            ENV_TIMEOUT: repr(self.timing.timeout),
        }

    def spawned(self) -> None:
        """Close the child's end here once the child holds it: while this process holds it too, the child's
        death would never show as EOF on our end."""
        self._theirs.close()

    def beat(self) -> bool:
        with self._lock:
            if self.closed:
                return False
            return _send_beat(self._mine)

    def poll(self, now: float | None = None) -> None:
        """Read the child's heartbeats that arrived (non-blocking); notes EOF."""
        with self._lock:
            if self.closed:
                return
            while True:
                try:
                    data = self._mine.recv(4096)
                except BlockingIOError:
                    return
                except OSError:
                    data = b""
                if not data:
                    self.closed = True
                    return
                self.last_heard = time.monotonic() if now is None else now

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._mine.close()
            if self._theirs.fileno() >= 0:
                self._theirs.close()


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only). False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


class SupervisorLink:
    """A node's end of its lifeline (see module docstring). `watch()` starts noticing the supervisor's loss,
    `beat()` tells the supervisor this node is alive (call it from the node's own event loop, so that a hung
    loop stops the beats)."""

    def __init__(self, fd: int, supervisor_pid: int, timing: LifelineTiming) -> None:
        self.supervisor_pid = supervisor_pid
        self.timing = timing
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        # A process this node starts (the executor's real-time loop) must not hold the node's end: the
        # supervisor would then miss the node's death on the lifeline (it still sees the exit code).
        self._sock.set_inheritable(False)
        self._lost = threading.Event()
        self.lost_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._death_signal_armed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "SupervisorLink | None":
        """The lifeline this process was started with, or None when it was started without a supervisor
        (by hand, by a launch file). Malformed settings are an error naming the variable."""
        env = os.environ if environ is None else environ
        if ENV_FD not in env:
            return None
        if environ is None:  # consumed: a process this node starts is not supervised through our descriptor
            env = {name: os.environ.pop(name) for name in LIFELINE_ENV if name in os.environ}
        try:
            fd, pid = int(env[ENV_FD]), int(env[ENV_PID])
            timing = LifelineTiming(float(env[ENV_PERIOD]), float(env[ENV_TIMEOUT]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"malformed supervisor lifeline environment ({', '.join(LIFELINE_ENV)}): {exc}") from None
        try:
            os.fstat(fd)
        except OSError:
            raise ValueError(f"{ENV_FD}={fd} is not an open descriptor in this process") from None
        return cls(fd, pid, timing)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def beat(self) -> None:
        if not self._lost.is_set() and not _send_beat(self._sock):
            self._declare_lost("the supervisor's end of the lifeline is closed", signalled=self._death_signal_armed)

    def watch(self, on_lost: Callable[[str, bool], None]) -> None:
        """Arm the parent-death signal and start the watcher thread. `on_lost(reason, signalled)` is called
        once; `signalled` says that the kernel's parent-death SIGTERM has been (or is being) delivered."""
        self._on_lost = on_lost
        self._death_signal_armed = set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != self.supervisor_pid:  # it died before the death signal was armed: no signal comes
            self._death_signal_armed = False
            self._declare_lost(f"the supervisor (pid {self.supervisor_pid}) is gone", signalled=False)
            return
        self._thread = threading.Thread(target=self._watch, name="supervisor-lifeline", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        last = time.monotonic()
        while not self._lost.is_set():
            remaining = last + self.timing.timeout - time.monotonic()
            if remaining <= 0:
                self._declare_lost(f"no heartbeat from the supervisor (pid {self.supervisor_pid}) for "
                                   f"{self.timing.timeout:.1f} s: it is hung or stopped", signalled=False)
                return
            try:
                ready, _, _ = select.select([self._sock], [], [], min(remaining, 1.0))
            except (OSError, ValueError):
                ready = [self._sock]
            if not ready:
                continue
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                # Its end closes only when it exits: the armed death signal is on its way.
                self._declare_lost(f"the supervisor (pid {self.supervisor_pid}) exited",
                                   signalled=self._death_signal_armed)
                return
            last = time.monotonic()

    def _declare_lost(self, reason: str, signalled: bool) -> None:
        if self._lost.is_set():
            return
        self.lost_reason = reason
        self._lost.set()
        callback = getattr(self, "_on_lost", None)
        if callback is not None:
            callback(reason, signalled)

    def close(self) -> None:
        self._lost.set()
        try:
            self._sock.close()
        except OSError:
            pass


def shut_down_this_process(reason: str, signalled: bool, grace: float = 20.0,
                           log: Callable[[str], None] | None = None) -> None:
    """The default reaction of a node that lost its supervisor: SIGTERM to itself (its normal shutdown path),
    once, and a hard exit if that has not ended the process after `grace` seconds.

    When the kernel's parent-death signal already sent SIGTERM (`signalled`), no second one is raised: it
    could land in the middle of the shutdown the first one started.
    """
    (log or LOG.error)(f"supervisor lost: {reason}; shutting down to the safe state")
    if not signalled:
        os.kill(os.getpid(), signal.SIGTERM)

    def hard_exit() -> None:
        (log or LOG.error)(f"shutdown did not finish within {grace:.0f} s of losing the supervisor; exiting")
        os._exit(HARD_EXIT_CODE)

    timer = threading.Timer(grace, hard_exit)
    timer.daemon = True
    timer.start()
