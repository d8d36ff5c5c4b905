"""The shared-memory block between the executor node and its real-time process.

One `multiprocessing.shared_memory` block of fixed-size numpy arrays; nothing in it is ever resized or
pickled, so the real-time side reads and writes it without allocating. Who writes what:

- node -> RT: the request ring (chunks, teleop targets, enable/disable/reset, rejections counted by the
  core; `REQ_SLOTS` slots, each numbered by its request id, written last), the e-stop counter and reason,
  the ROS clock (clock:=ros), the node's heartbeat, the stop request.
- RT -> node: a reply per request, the status JSON (seqlock), the last command sent (seqlock), the log
  ring (mode changes, written after the tick's command went out), the RT heartbeat and its life-cycle state.

Every multi-word record is published with a sequence number written after its payload (seqlock: odd while
writing). `fence()` separates payload from sequence stores: numpy stores are plain stores, and on a weakly
ordered CPU (the G1's ARM computer) another process could otherwise see the new number before the data; a
pthread mutex acquire/release is a full memory barrier on every platform CPython runs on.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES
from dit4dit_ros.g1.joints import JOINT_NAMES, NUM_JOINTS

MAGIC = 0xD174D175
REQ_SLOTS = 8
TEXT_BYTES = 256
STATUS_BYTES = 32768
LOG_SLOTS = 64
LOG_BYTES = 400

# header words (int64)
H_MAGIC, H_NODE_BEAT, H_RT_BEAT, H_RT_PID, H_ESTOP_REQ, H_STOP_REQ, H_RT_STATE, H_REQ_DONE = range(8)
H_LOG_HEAD, H_TICKS = 8, 9
HEADER_WORDS = 16
# H_RT_STATE values
RT_STARTING, RT_RUNNING, RT_STOPPING, RT_STOPPED, RT_FAILED = range(5)
RT_STATE_NAMES = ("starting", "running", "stopping", "stopped", "failed")

# request kinds
ENABLE, DISABLE, RESET_ESTOP, CHUNK, TELEOP, REJECT_POLICY, REJECT_TELEOP, CLOCK_REPORT = range(1, 9)

# The channels a request can name, by index: the G1's joints, then the grippers of the official layout.
CHANNEL_NAMES: tuple[str, ...] = JOINT_NAMES + ALL_GRIPPER_NAMES
CHANNEL_INDEX: dict[str, int] = {name: k for k, name in enumerate(CHANNEL_NAMES)}
NUM_CHANNELS = len(CHANNEL_NAMES)

_FENCE = threading.Lock()


def fence() -> None:
    """A full memory barrier (see the module docstring)."""
    _FENCE.acquire()
    _FENCE.release()


def _layout(max_points: int) -> list[tuple[str, type, tuple[int, ...]]]:
    return [
        ("header", np.int64, (HEADER_WORDS,)),
        ("estop_text", np.uint8, (TEXT_BYTES,)),
        ("clock_seq", np.int64, (1,)),
        ("clock", np.float64, (1,)),
        ("req_seq", np.int64, (REQ_SLOTS,)),
        ("req_kind", np.int64, (REQ_SLOTS,)),
        ("req_npoints", np.int64, (REQ_SLOTS,)),
        ("req_njoints", np.int64, (REQ_SLOTS,)),
        ("req_stamp", np.float64, (REQ_SLOTS,)),
        ("req_joints", np.int64, (REQ_SLOTS, NUM_CHANNELS)),
        ("req_times", np.float64, (REQ_SLOTS, max_points)),
        ("req_positions", np.float64, (REQ_SLOTS, max_points * NUM_CHANNELS)),
        ("req_text", np.uint8, (REQ_SLOTS, TEXT_BYTES)),
        ("rep_seq", np.int64, (REQ_SLOTS,)),
        ("rep_ok", np.int64, (REQ_SLOTS,)),
        ("rep_text", np.uint8, (REQ_SLOTS, TEXT_BYTES)),
        ("status_seq", np.int64, (1,)),
        ("status_len", np.int64, (1,)),
        ("status", np.uint8, (STATUS_BYTES,)),
        ("cmd_seq", np.int64, (1,)),
        ("cmd_count", np.int64, (1,)),
        ("cmd", np.float64, (3, NUM_JOINTS)),
        ("log_level", np.int64, (LOG_SLOTS,)),
        ("log_len", np.int64, (LOG_SLOTS,)),
        ("log_text", np.uint8, (LOG_SLOTS, LOG_BYTES)),
    ]


def _size(max_points: int) -> int:
    total = 0
    for _name, dtype, shape in _layout(max_points):
        total += int(np.dtype(dtype).itemsize * np.prod(shape))
    return total


def put_text(buf: np.ndarray, text: str) -> int:
    """UTF-8 `text` into a uint8 array (cut to fit); returns the byte count."""
    data = text.encode("utf-8", errors="replace")[: buf.size]
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return len(data)


def get_text(buf: np.ndarray, length: int | None = None) -> str:
    raw = bytes(buf[:length]) if length is not None else bytes(buf).split(b"\0", 1)[0]
    return raw.decode("utf-8", errors="replace")


@dataclass
class ControlShm:
    """Views of the block's arrays (attribute per field of `_layout`). Create with `create` or `attach`."""

    shm: shared_memory.SharedMemory
    max_points: int

    def __post_init__(self) -> None:
        offset = 0
        for name, dtype, shape in _layout(self.max_points):
            count = int(np.prod(shape))
            arr = np.ndarray(shape, dtype=dtype, buffer=self.shm.buf, offset=offset)
            setattr(self, name, arr)
            offset += count * np.dtype(dtype).itemsize

    @classmethod
    def create(cls, max_points: int) -> ControlShm:
        shm = shared_memory.SharedMemory(create=True, size=_size(max_points))
        block = cls(shm, max_points)
        block.header[H_MAGIC] = MAGIC
        return block

    @classmethod
    def attach(cls, name: str, max_points: int) -> ControlShm:
        # track=False (3.13+) does not exist on 3.11: the creator unlinks, the resource tracker of this
        # process must not (it would warn about a "leaked" block it never owned)
        shm = shared_memory.SharedMemory(name=name)
        try:
            from multiprocessing import resource_tracker

            resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
        except Exception:  # pragma: no cover - tracker internals differ: at worst a warning at exit
            pass
        block = cls(shm, max_points)
        if int(block.header[H_MAGIC]) != MAGIC:
            raise ValueError(f"shared memory {name!r} is not an executor control block")
        if shm.size < _size(max_points):
            raise ValueError(f"shared memory {name!r} has {shm.size} bytes, expected {_size(max_points)}")
        return block

    @property
    def name(self) -> str:
        return self.shm.name

    # ---------------------------------------------------------------- seqlocked records
    @staticmethod
    def _write(seq: np.ndarray, store) -> None:
        """Seqlock write: odd sequence while `store()` writes the payload."""
        seq[0] += 1
        fence()
        store()
        fence()
        seq[0] += 1

    @staticmethod
    def _read(seq: np.ndarray, load, default):
        """Seqlock read: `load()` until it ran between two equal even sequence numbers (100 tries, else `default`)."""
        for _ in range(100):
            s0 = int(seq[0])
            fence()
            value = load()
            fence()
            if s0 % 2 == 0 and int(seq[0]) == s0:
                return value
        return default

    def write_clock(self, t: float) -> None:
        self._write(self.clock_seq, lambda: self.clock.__setitem__(0, t))

    def read_clock(self) -> float:
        return self._read(self.clock_seq, lambda: float(self.clock[0]), float("-inf"))

    def write_status(self, status: dict) -> None:
        data = json.dumps(status).encode()
        if len(data) > STATUS_BYTES:
            data = json.dumps({"error": f"status of {len(data)} bytes does not fit"}).encode()

        def store() -> None:
            self.status[: len(data)] = np.frombuffer(data, dtype=np.uint8)
            self.status_len[0] = len(data)

        self._write(self.status_seq, store)

    def read_status(self) -> dict:
        raw = self._read(self.status_seq, lambda: bytes(self.status[: int(self.status_len[0])]), b"")
        return json.loads(raw) if raw else {}

    def write_command(self, q: np.ndarray, dq: np.ndarray, tau: np.ndarray) -> None:
        def store() -> None:
            self.cmd[0], self.cmd[1], self.cmd[2] = q, dq, tau
            self.cmd_count[0] += 1

        self._write(self.cmd_seq, store)

    def read_command(self) -> tuple[int, np.ndarray | None]:
        """(count of tracking commands sent so far, copy of the last one as a (3, 29) array q/dq/tau)."""
        return self._read(self.cmd_seq, lambda: (int(self.cmd_count[0]), self.cmd.copy()), (0, None))

    def close(self) -> None:
        for name, _dtype, _shape in _layout(self.max_points):
            setattr(self, name, None)  # drop the views before closing the mapping
        self.shm.close()
