"""MP4 video encoding and frame-accurate random access with PyAV (FFmpeg inside the `av` wheel).

Encoding: H.264 (libx264) by default, AV1 (libsvtav1) on request, pixel format yuv420p, one frame per
dataset step (pts = frame index in a 1/fps time base), a short GOP so that a training sample can seek to a
nearby keyframe instead of decoding from the start (LeRobot's own encoder uses GOP 2 for the same reason).

Decoding: `VideoFrameReader` seeks to the keyframe before the first wanted frame and decodes forward,
keeping its position, so consecutive requests on one file do not seek again. Frames are converted (and
resized) to RGB by FFmpeg's swscale, which is much cheaper than resizing in Python.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

CODECS = {"h264": "libx264", "av1": "libsvtav1"}  # LeRobot info.json name -> FFmpeg encoder
PIX_FMT = "yuv420p"


class VideoEncoder:
    """Writes RGB frames (H, W, 3) uint8 into an MP4 file at `fps`."""

    def __init__(self, path: Path | str, width: int, height: int, fps: int, codec: str = "h264",
                 crf: int = 23, gop: int = 10) -> None:
        if codec not in CODECS:
            raise ValueError(f"video codec {codec!r} not supported; expected one of {sorted(CODECS)}")
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"video size {width}x{height}: yuv420p needs even, positive width and height")
        if fps <= 0 or gop < 1:
            raise ValueError(f"fps ({fps}) and gop ({gop}) must be positive")
        self.path = Path(path)
        self.width, self.height, self.fps, self.codec = width, height, int(fps), codec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        try:
            stream = self._container.add_stream(CODECS[codec], rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, PIX_FMT
            stream.codec_context.time_base = Fraction(1, self.fps)
            if codec == "h264":
                stream.options = {"crf": str(crf), "g": str(gop), "preset": "veryfast", "bf": "0"}
            else:
                stream.options = {"crf": str(crf), "g": str(gop), "preset": "10"}
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self.frames_written = 0
        self.bytes_written = 0  # encoded bytes handed to the muxer (the file on disk lags behind: buffered)

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"{self.path.name}: frame has shape {rgb.shape} {rgb.dtype}, expected ({self.height}, {self.width}, 3) uint8"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = Fraction(1, self.fps)
        for packet in self._stream.encode(frame):
            self.bytes_written += packet.size
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self.bytes_written += packet.size
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def probe_video(path: Path | str) -> dict:
    """Codec, size, pixel format, fps and frame count of the first video stream (frame count by demuxing)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        rate = stream.average_rate or stream.guessed_rate
        return {
            "codec": ctx.codec.canonical_name,
            "width": ctx.width,
            "height": ctx.height,
            "pix_fmt": ctx.pix_fmt,
            "fps": float(rate) if rate else None,
            "frames": frames,
        }


@dataclass
class DecodeReport:
    """What decoding every frame of a video found (see decode_all)."""

    frames: int  # frames decoded before the end or the first error
    errors: list[str]  # decoder errors (exceptions and the decoder's own error log lines), first few
    index_problem: str | None = None  # frames missing or out of order (by presentation time)


def decode_all(path: Path | str, fps: float, max_errors: int = 5) -> DecodeReport:
    """Decode every frame of the first video stream, collecting the decoder's errors.

    A corrupted packet usually makes FFmpeg raise (InvalidDataError) or log an error while concealing it
    ("error while decoding MB ..."); both are reported. Random bytes that happen to form a decodable
    bitstream decode without complaint: no decoder can tell those, only a checksum of the file could.
    """
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    errors: list[str] = []
    frames, problem = 0, None
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            if not container.streams.video:
                return DecodeReport(0, [f"{path}: no video stream"])
            stream = container.streams.video[0]
            stream.thread_count = 1
            start, time_base = stream.start_time or 0, float(stream.time_base)
            try:
                for frame in container.decode(stream):
                    index = int(round((frame.pts - start) * time_base * fps)) if frame.pts is not None else None
                    if problem is None and index != frames:
                        problem = f"frame {frames} is shown at {('no time' if index is None else f'index {index}')}"
                    frames += 1
            except (av.error.FFmpegError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            errors += [f"{name}: {message.strip()}" for level, name, message in logs
                       if level <= av.logging.ERROR][: max_errors]
    finally:
        av.logging.set_level(previous)
    return DecodeReport(frames, errors[:max_errors], problem)


class VideoFrameReader:
    """Random access to the frames of one MP4 by frame index (frame k is shown at k / fps)."""

    def __init__(self, path: Path | str, fps: float) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self._container = av.open(str(self.path))
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"{self.path}: no video stream")
        self._stream = self._container.streams.video[0]
        # No FFmpeg decoder threads: a DataLoader forks its workers, and a fork taken while decoder threads
        # exist can deadlock the child. Parallelism comes from the workers instead.
        self._stream.thread_count = 1
        self._time_base = float(self._stream.time_base)
        self._start = self._stream.start_time or 0
        self._decoder = None
        self._next_index = 0  # index of the frame the running decoder yields next (when _decoder is set)

    def _index_of(self, frame: av.VideoFrame) -> int:
        return int(round((frame.pts - self._start) * self._time_base * self.fps))

    def _seek(self, index: int) -> None:
        target = self._start + int(round(index / self.fps / self._time_base))
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
        """{index: RGB frame (H, W, 3) uint8} for `indices`; `size` (H, W) resizes while converting.

        Raises IndexError naming the file if a frame does not exist.
        """
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return {}
        if wanted[0] < 0:
            raise IndexError(f"{self.path}: negative frame index {wanted[0]}")
        if self._decoder is None or not (self._next_index <= wanted[0] <= self._next_index + 30):
            self._seek(wanted[0])
        kwargs = {"format": "rgb24"}
        if size is not None:
            kwargs.update(height=int(size[0]), width=int(size[1]), interpolation="AREA")
        out: dict[int, np.ndarray] = {}
        pending = collections.deque(wanted)
        for frame in self._decoder:
            idx = self._index_of(frame)
            self._next_index = idx + 1
            while pending and pending[0] < idx:  # a frame we passed without seeing it: not in the file
                raise IndexError(f"{self.path}: frame {pending[0]} not found (decoder jumped to {idx})")
            if pending and pending[0] == idx:
                out[idx] = frame.to_ndarray(**kwargs)
                pending.popleft()
            if not pending:
                return out
        self._decoder = None
        raise IndexError(f"{self.path}: frames {list(pending)} are past the end of the video")

    def close(self) -> None:
        self._container.close()


class VideoReaderCache:
    """A small per-process cache of open readers and decoded frames (one per DataLoader worker).

    Why: a training sample needs a span of neighbouring frames, and neighbouring samples share most of
    them; re-opening files and re-decoding would dominate the loader's time.
    """

    def __init__(self, max_readers: int = 4, max_frames: int = 256) -> None:
        self.max_readers, self.max_frames = max_readers, max_frames
        self._readers: collections.OrderedDict[Path, VideoFrameReader] = collections.OrderedDict()
        self._frames: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()

    def frames(self, path: Path, fps: float, indices: Sequence[int], size: tuple[int, int] | None) -> list[np.ndarray]:
        key_size = tuple(size) if size is not None else None
        missing = [i for i in indices if (path, i, key_size) not in self._frames]
        if missing:
            reader = self._readers.pop(path, None) or VideoFrameReader(path, fps)
            self._readers[path] = reader
            while len(self._readers) > self.max_readers:
                _, old = self._readers.popitem(last=False)
                old.close()
            for i, img in reader.read(missing, size).items():
                self._frames[(path, i, key_size)] = img
        out = []
        for i in indices:
            key = (path, i, key_size)
            self._frames.move_to_end(key)
            out.append(self._frames[key])
        while len(self._frames) > self.max_frames:
            self._frames.popitem(last=False)
        return out

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._frames.clear()
