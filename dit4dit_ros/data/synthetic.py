"""Synthetic episodes with signals whose alignment can be checked after export and read-back.

- Joint positions follow a known ramp `ramp_positions(t)` (linear in time, so linear interpolation is exact);
  channel j of the streams (`SyntheticEpisodeSpec.channels`, default the 29 G1 joints; hand joints and
  gripper channels can follow) has the ramp's column j.
- Commands are the ramp shifted by `COMMAND_OFFSET` rad (a piecewise-constant command held between samples).
- Each camera frame encodes its frame number in two flat blocks (low and high 5 bits, 8 grey levels apart),
  which survives lossy video coding: `decode_frame_number` recovers it from a decoded frame.

Used by tests, `dit4dit bench dataloader` and the bench publisher; messages are real CDR bytes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit4dit_ros.data.topics import (
    COMMAND_TOPIC,
    IMAGE_TOPIC,
    INSTRUCTION_TOPIC,
    JOINT_STATES_TOPIC,
    default_streams,
)
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.g1.timing import CONTROL_RATE_HZ

RAMP_SLOPE = 0.05  # rad/s, every joint
COMMAND_OFFSET = 0.01  # rad
_LEVEL = 8  # grey levels per code step
_BITS = 5


def ramp_positions(t: float | np.ndarray, num_joints: int = len(JOINT_NAMES)) -> np.ndarray:
    """(.., num_joints) joint positions at time(s) t [s]: joint j = 0.01 j + RAMP_SLOPE t."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    return 0.01 * np.arange(num_joints) + RAMP_SLOPE * t


def encode_frame_number(k: int, height: int, width: int, texture: float = 0.0) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 whose left half encodes k mod 32 and right half (k // 32) mod 32.

    `texture` > 0 adds a moving noise pattern of that amplitude to the bottom half (camera-like content for
    codec and decoder benchmarks); the code is read from the top half, which stays flat.
    """
    if not 0 <= k < 2 ** (2 * _BITS):
        raise ValueError(f"frame number {k} out of range 0..{2 ** (2 * _BITS) - 1}")
    img = np.empty((height, width, 3), np.uint8)
    img[:, : width // 2] = 4 + _LEVEL * (k % 32)
    img[:, width // 2 :] = 4 + _LEVEL * (k // 32)
    if texture > 0:
        half = height // 2
        pattern = _texture(height - half + 16, width + 16)
        dy, dx = (3 * k) % 16, (5 * k) % 16
        bottom = img[half:].astype(np.float32) + texture * pattern[dy : dy + height - half, dx : dx + width, None]
        img[half:] = np.clip(bottom, 0, 255).astype(np.uint8)
    return img


_TEXTURES: dict[tuple[int, int], np.ndarray] = {}


def _texture(height: int, width: int) -> np.ndarray:
    """A fixed unit-amplitude pattern: 8x8 blobs plus fine grain (deterministic, cached per size)."""
    key = (height, width)
    if key not in _TEXTURES:
        rng = np.random.default_rng(0)
        blobs = np.kron(rng.normal(size=(height // 8 + 1, width // 8 + 1)), np.ones((8, 8)))[:height, :width]
        _TEXTURES[key] = (0.75 * blobs + 0.25 * rng.normal(size=(height, width))).astype(np.float32)
    return _TEXTURES[key]


def decode_frame_number(img: np.ndarray) -> int:
    """Inverse of encode_frame_number for an (H, W, 3) uint8 or [0,1] float frame (robust to codec noise)."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.max() <= 1.0 + 1e-6 and arr.dtype != np.uint8:
        arr = arr * 255.0
    if arr.shape[0] == 3 and arr.ndim == 3 and arr.shape[-1] != 3:
        arr = np.moveaxis(arr, 0, -1)
    h, w = arr.shape[:2]
    # sample the top half (never textured), away from the edges where chroma subsampling blurs the step
    lo = arr[h // 8 : 3 * h // 8, w // 8 : 3 * w // 8].mean()
    hi = arr[h // 8 : 3 * h // 8, 5 * w // 8 : 7 * w // 8].mean()
    return int(round((lo - 4) / _LEVEL)) + 32 * int(round((hi - 4) / _LEVEL))


# ---- CDR builders (little endian, same bytes ROS 2 sends) -----------------------------------------------
def _cdr_string(buf: bytearray, text: str) -> None:
    _align(buf, 4)
    raw = text.encode() + b"\x00"
    buf += struct.pack("<I", len(raw)) + raw


def _align(buf: bytearray, n: int) -> None:
    pad = (-(len(buf) - 4)) % n
    buf += b"\x00" * pad


def _header(buf: bytearray, stamp_ns: int, frame_id: str) -> None:
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    buf += struct.pack("<iI", sec, nsec)
    _cdr_string(buf, frame_id)


def image_cdr(img: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "ego_camera") -> bytes:
    """sensor_msgs/msg/Image CDR of an (H, W, C) uint8 array."""
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    buf = bytearray(b"\x00\x01\x00\x00")
    _header(buf, stamp_ns, frame_id)
    _align(buf, 4)
    buf += struct.pack("<II", h, w)
    _cdr_string(buf, encoding)
    buf += struct.pack("<B", 0)
    _align(buf, 4)
    buf += struct.pack("<I", w * channels)
    data = np.ascontiguousarray(img, dtype=np.uint8).tobytes()
    buf += struct.pack("<I", len(data))
    buf += data
    return bytes(buf)


def joint_state_cdr(names: tuple[str, ...] | list[str], positions: np.ndarray, stamp_ns: int,
                    velocities: np.ndarray | None = None) -> bytes:
    """sensor_msgs/msg/JointState CDR (position, optional velocity, empty effort)."""
    buf = bytearray(b"\x00\x01\x00\x00")
    _header(buf, stamp_ns, "")
    _align(buf, 4)
    buf += struct.pack("<I", len(names))
    for name in names:
        _cdr_string(buf, name)
    for arr in (positions, velocities, None):
        values = np.asarray(arr if arr is not None else [], dtype="<f8")
        _align(buf, 4)
        buf += struct.pack("<I", values.size)
        if values.size:
            _align(buf, 8)
            buf += values.tobytes()
    return bytes(buf)


def string_cdr(text: str) -> bytes:
    """std_msgs/msg/String CDR."""
    buf = bytearray(b"\x00\x01\x00\x00")
    _cdr_string(buf, text)
    return bytes(buf)


@dataclass(frozen=True)
class SyntheticEpisodeSpec:
    """Rates, size and timing of one synthetic episode (times in ns on the recorder clock)."""

    duration_s: float = 2.0
    image_rate: float = 30.0
    state_rate: float = CONTROL_RATE_HZ
    command_rate: float = 100.0
    width: int = 64
    height: int = 48
    start_ns: int = 1_000_000_000_000
    instruction: str = "pick up the red cup"
    first_frame_number: int = 0
    texture: float = 0.0  # moving noise in the bottom half of each frame (see encode_frame_number)
    channels: tuple[str, ...] = JOINT_NAMES  # names in the JointState streams; channel j follows ramp column j

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or min(self.image_rate, self.state_rate, self.command_rate) <= 0:
            raise ValueError("SyntheticEpisodeSpec: duration and rates must be > 0")
        if self.width < 8 or self.height < 8:
            raise ValueError("SyntheticEpisodeSpec: image must be at least 8x8")


def synthetic_messages(spec: SyntheticEpisodeSpec) -> list[tuple[str, int, bytes]]:
    """(topic, t_ns, cdr) of one episode in time order; header stamps equal the bag times."""
    out: list[tuple[int, int, str, bytes]] = []
    n_img = int(spec.duration_s * spec.image_rate) + 1
    for k in range(n_img):
        t = spec.start_ns + round(k * 1e9 / spec.image_rate)
        img = encode_frame_number((spec.first_frame_number + k) % 1024, spec.height, spec.width, spec.texture)
        out.append((t, 0, IMAGE_TOPIC, image_cdr(img, t)))
    for rate, topic, offset, prio in (
        (spec.state_rate, JOINT_STATES_TOPIC, 0.0, 1),
        (spec.command_rate, COMMAND_TOPIC, COMMAND_OFFSET, 2),
    ):
        n = int(spec.duration_s * rate) + 1
        for k in range(n):
            t = spec.start_ns + round(k * 1e9 / rate)
            q = ramp_positions((t - spec.start_ns) * 1e-9, len(spec.channels)) + offset
            out.append((t, prio, topic, joint_state_cdr(spec.channels, q, t)))
    out.sort(key=lambda item: (item[0], item[1]))
    return [(topic, t, data) for t, _, topic, data in out]


def write_synthetic_episodes(root: Path | str, specs: list[SyntheticEpisodeSpec], success: bool | None = True) -> list[Path]:
    """Record synthetic episodes through the real EpisodeRecorder (clock = the messages' times)."""
    from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig

    clock_ns = [0]
    config = RecorderConfig(output_dir=Path(root), streams=default_streams(), min_free_mb=0.0, reserve_free_mb=0.0)
    recorder = EpisodeRecorder(config, clock=lambda: clock_ns[0])
    paths = []
    try:
        for spec in specs:
            clock_ns[0] = spec.start_ns
            recorder.start(spec.instruction, [(INSTRUCTION_TOPIC, spec.start_ns, string_cdr(spec.instruction))])
            for topic, t, data in synthetic_messages(spec):
                clock_ns[0] = t
                if not recorder.offer(topic, t, data):
                    raise RuntimeError("synthetic episode: recorder dropped a message (queue full)")
            result = recorder.stop(success=success)
            if not result.ok:
                raise RuntimeError(f"synthetic episode {result.index} failed: {result.info.error}")
            paths.append(result.path)
    finally:
        recorder.close()
    return paths
