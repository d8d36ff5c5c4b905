"""Single keys from a terminal: non-canonical, no-echo mode (termios) with non-blocking reads.

Canonical mode delivers input per line and echoes it, so a held 'w' would only arrive at Enter. The reader
clears ICANON and ECHO (keys arrive one by one, unechoed) and keeps ISIG and output processing, so Ctrl-C
still raises SIGINT and log lines still print normally. The terminal's settings are restored on exit,
whatever happens. stdin that is not a TTY (a pipe, a service, a CI job) is refused with a clear error.
"""
from __future__ import annotations

import os
import select
import termios

from dit4dit_ros.teleop.keys import decode_keys


class NotATerminalError(RuntimeError):
    """The key source is not a terminal."""


class TerminalKeyReader:
    """Context manager over a TTY file descriptor; `read_keys()` returns the keys typed since the last call."""

    def __init__(self, fd: int, max_bytes: int = 1024) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._saved: list | None = None

    def __enter__(self) -> "TerminalKeyReader":
        if not os.isatty(self.fd):
            raise NotATerminalError(
                f"keyboard teleop needs a terminal: file descriptor {self.fd} is not a TTY (stdin redirected "
                "or no terminal attached); run it in an interactive terminal, or use source 'replay' or 'expert'")
        self._saved = termios.tcgetattr(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~(termios.ICANON | termios.ECHO)  # lflags: key by key, no echo; ISIG kept
        attrs[6][termios.VMIN] = 0
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Restore the terminal settings (idempotent)."""
        if self._saved is not None:
            saved, self._saved = self._saved, None
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass  # the terminal is gone (closed pty, hung-up ssh): nothing left to restore

    def read_keys(self, timeout: float = 0.0) -> list[str]:
        """Keys available now (waits up to `timeout` s for the first one). Empty at end of input."""
        if self._saved is None:
            raise RuntimeError("TerminalKeyReader is not open (use it as a context manager)")
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        try:
            data = os.read(self.fd, self.max_bytes)
        except OSError:  # EIO: the terminal's other side closed
            return []
        return decode_keys(data)
