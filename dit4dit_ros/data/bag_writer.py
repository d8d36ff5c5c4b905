"""One episode's rosbag2 MCAP bag, written with `rosbags` from CDR bytes exactly as received.

rosbags' MCAP storage opens its data file itself; the `FileSystem` seam wraps that open file (and nothing
else) so that disk-full faults can be injected where they really happen. The writer is not thread-safe:
the recorder's single writer thread owns it.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter

from dit4dit_ros.data.storage import FileSystem
from dit4dit_ros.data.topics import StreamSpec, recording_typestore

ROSBAG2_VERSION = 9


@functools.lru_cache(maxsize=None)
def _writer_class(fs: FileSystem) -> type[Writer]:
    class SeamMcapWriter(McapWriter):
        def __init__(self, path: Path, compression) -> None:
            super().__init__(path, compression)
            self.bio = fs.wrap_bag_file(self.bio)

    class SeamWriter(Writer):
        STORAGE_PLUGINS = {StoragePlugin.MCAP: SeamMcapWriter}

    return SeamWriter


class EpisodeBagWriter:
    """Writes the streams of one episode into the bag directory `path` (created by `open`)."""

    def __init__(self, path: Path, streams: Iterable[StreamSpec], fs: FileSystem | None = None) -> None:
        self.path = Path(path)
        self.streams = tuple(streams)
        self.fs = fs or FileSystem()
        self._writer: Writer | None = None
        self._connections: dict = {}
        self.counts: dict[str, int] = {s.topic: 0 for s in self.streams}
        self.bytes_written = 0

    def open(self) -> None:
        """Create the bag directory and register every stream (the bag lists them even if they stay empty)."""
        typestore = recording_typestore()
        writer = _writer_class(self.fs)(self.path, version=ROSBAG2_VERSION, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        self._writer = writer
        try:
            for stream in self.streams:
                self._connections[stream.topic] = writer.add_connection(stream.topic, stream.msgtype, typestore=typestore)
        except BaseException:
            self.abort()
            raise

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        if self._writer is None:
            raise RuntimeError(f"bag {self.path} is not open")
        self._writer.write(self._connections[topic], timestamp_ns, data)
        self.counts[topic] += 1
        self.bytes_written += len(data)

    def close(self) -> list[Path]:
        """Write the MCAP summary and metadata.yaml; returns the files of the bag (for fsync)."""
        if self._writer is None:
            raise RuntimeError(f"bag {self.path} is not open")
        writer, self._writer = self._writer, None
        writer.close()
        return sorted(p for p in self.path.iterdir() if p.is_file())

    def abort(self) -> None:
        """Close the data file without a summary (after an error); never raises."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.abort()
            except OSError:
                pass
