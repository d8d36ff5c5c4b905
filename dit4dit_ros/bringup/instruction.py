"""The language instruction of a running graph: published latched by `dit4dit run`, changeable live.

`dit4dit run --instruction TEXT` publishes TEXT on the policy's instruction topic (std_msgs/String, RELIABLE +
TRANSIENT_LOCAL depth 1), so the policy, the recorder and any node started later all get it; a line typed on
the supervisor's standard input (or written to its pipe) replaces it. Anyone else may publish on the topic too
(`ros2 topic pub --once /dit4dit/instruction std_msgs/msg/String "{data: '...'}"`); the policy takes the newest.
"""
from __future__ import annotations

import os
import select
import sys
from typing import TextIO

from dit4dit_ros.data.topics import INSTRUCTION_TOPIC

DEFAULT_INSTRUCTION_TOPIC = INSTRUCTION_TOPIC


class InstructionPublisher:
    """Owns the latched publisher; `poll_input()` turns complete stdin lines into new instructions."""

    def __init__(self, node, topic: str = DEFAULT_INSTRUCTION_TOPIC, stream: TextIO | None = None) -> None:
        from std_msgs.msg import String

        from dit4dit_ros.nodes.qos import LATCHED

        self._String = String
        self.topic = topic
        self.current: str | None = None
        self._pub = node.create_publisher(String, topic, LATCHED)
        self._stream = sys.stdin if stream is None else stream
        self._fd: int | None = None
        self._buffer = b""
        try:
            if self._stream is not None and not self._stream.closed:
                self._fd = self._stream.fileno()
        except (OSError, ValueError):
            self._fd = None  # no usable standard input (CI, a daemon): instructions come from the command line only

    def publish(self, text: str) -> None:
        text = text.strip()
        if not text:
            raise ValueError("an instruction must not be empty")
        self.current = text
        self._pub.publish(self._String(data=text))

    def poll_input(self) -> str | None:
        """Read what stdin has (never blocks); publish and return the last complete non-empty line, if any."""
        if self._fd is None:
            return None
        try:
            ready, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):
            self._fd = None
            return None
        if not ready:
            return None
        chunk = os.read(self._fd, 4096)
        if not chunk:
            self._fd = None  # end of input: keep the current instruction
            return None
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        texts = [line.decode(errors="replace").strip() for line in lines]
        texts = [t for t in texts if t]
        if not texts:
            return None
        self.publish(texts[-1])
        return texts[-1]
