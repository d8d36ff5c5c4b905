"""Well-typed but malformed messages for every subscriber of the graph, from a seeded generator.

Any process on the ROS domain can publish on the graph's topics; a node must survive whatever fits the message
type (a ragged chunk point crashed the monitor and, through the supervisor, damped the robot). Each generator
yields the typical ways a message can be wrong (ragged, empty, non-finite, huge, duplicate or unknown names,
zero or far-future stamps, wrong encodings and sizes, long and odd text) mixed with random variants and a few
valid ones, so a node is also exercised between bad inputs. The harness talks to a node only over ROS topics
and to the robot over DDS, so it fuzzes any implementation of a node (the executor before and after its move to
a real-time process alike).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, LEGS

BAD_FLOATS = (math.nan, math.inf, -math.inf, 1e9, -1e9, 1e308, 5e-324)
ODD_NAMES = ("", " ", "right_elbow_joint ", "RIGHT_ELBOW_JOINT", "ünïcode_joint", "a" * 10_000, "\x00joint")


def _time(seconds: float) -> Time:
    seconds = max(0.0, min(seconds, 2.0**31 - 1))
    sec = int(seconds)
    return Time(sec=sec, nanosec=min(int((seconds - sec) * 1e9), 999_999_999))


def _duration(seconds: float) -> Duration:
    seconds = max(-(2.0**31), min(seconds, 2.0**31 - 1))
    sec = math.floor(seconds)
    return Duration(sec=int(sec), nanosec=min(int((seconds - sec) * 1e9), 999_999_999))


def _trajectory(names: Sequence[str], rows: Sequence[Sequence[float]], stamp: float, times: Sequence[float]) -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp = _time(stamp)
    msg.joint_names = list(names)
    for row, t in zip(rows, times):
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in row], time_from_start=_duration(t)))
    return msg


class MalformedMessages:
    """Seeded generators of malformed messages. `now()` gives the ROS time to stamp them around; `base(names)`
    gives plausible joint positions (e.g. the robot's measured pose) for the valid-looking ones."""

    def __init__(self, seed: int, now: Callable[[], float],
                 base: Callable[[Sequence[str]], np.ndarray] | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.now = now
        self.base = base or (lambda names: np.zeros(len(names)))

    def _names(self) -> list[str]:
        pool = list(ARMS)
        k = int(self.rng.integers(1, len(pool) + 1))
        return [pool[i] for i in self.rng.choice(len(pool), size=k, replace=False)]

    # -- action chunks (JointTrajectory) --------------------------------------------------------------------
    def chunks(self, count: int) -> Iterator[tuple[str, JointTrajectory]]:
        """(what is wrong, message) pairs."""
        for i in range(count):
            kind = CHUNK_KINDS[i % len(CHUNK_KINDS)]
            yield kind, self._chunk(kind)

    def _chunk(self, kind: str) -> JointTrajectory:
        rng, now = self.rng, self.now()
        names = self._names()
        h = int(rng.integers(1, 20))
        q = self.base(names) + rng.normal(0.0, 0.05, size=(h, len(names)))
        times = [0.0333 * k for k in range(h)]
        if kind == "valid":
            return _trajectory(names, q, now, times)
        if kind == "ragged point":
            rows = [list(r) for r in q]
            rows[int(rng.integers(0, h))] = list(rng.normal(size=len(names) + int(rng.integers(1, 5))))
            return _trajectory(names, rows, now, times)
        if kind == "short point":
            rows = [list(r) for r in q]
            rows[int(rng.integers(0, h))] = rows[0][: max(0, len(names) - 1)]
            return _trajectory(names, rows, now, times)
        if kind == "non-finite":
            q[int(rng.integers(0, h)), int(rng.integers(0, len(names)))] = BAD_FLOATS[int(rng.integers(0, 3))]
            return _trajectory(names, q, now, times)
        if kind == "huge positions":
            return _trajectory(names, np.full_like(q, BAD_FLOATS[int(rng.integers(3, 7))]), now, times)
        if kind == "far outside the limits":
            return _trajectory(names, q + rng.choice([-1, 1]) * 100.0, now, times)
        if kind == "no names":
            return _trajectory([], [[] for _ in range(h)], now, times)
        if kind == "no points":
            return _trajectory(names, [], now, [])
        if kind == "duplicate names":
            return _trajectory(names + names[:1], np.hstack([q, q[:, :1]]), now, times)
        if kind == "unknown or odd names":
            odd = [ODD_NAMES[int(rng.integers(0, len(ODD_NAMES)))] for _ in names]
            return _trajectory(odd, q, now, times)
        if kind == "leg joints":
            legs = list(LEGS[: len(names)])
            return _trajectory(legs, q[:, : len(legs)], now, times)
        if kind == "zero stamp":
            return _trajectory(names, q, 0.0, times)
        if kind == "far-future stamp":
            return _trajectory(names, q, now + 1e6, times)
        if kind == "ancient stamp":
            return _trajectory(names, q, 1.0, times)
        if kind == "times not increasing":
            return _trajectory(names, q, now, list(reversed(times)) if h > 1 else [-1.0])
        if kind == "negative or huge times":
            return _trajectory(names, q, now, [rng.choice([-5.0, 1e7]) for _ in range(h)])
        if kind == "many points":
            n = 5000
            return _trajectory(names, np.repeat(q[:1], n, axis=0), now, [0.001 * k for k in range(n)])
        if kind == "velocities of the wrong length":
            msg = _trajectory(names, q, now, times)
            for p in msg.points:
                p.velocities = [1.0] * (len(names) + 3)
                p.accelerations = [math.nan]
            return msg
        raise ValueError(f"unknown chunk kind {kind!r}")

    # -- joint states -------------------------------------------------------------------------------------
    def joint_states(self, count: int) -> Iterator[tuple[str, JointState]]:
        for i in range(count):
            kind = JOINT_STATE_KINDS[i % len(JOINT_STATE_KINDS)]
            yield kind, self._joint_state(kind)

    def _joint_state(self, kind: str) -> JointState:
        rng = self.rng
        names = list(JOINT_NAMES)
        q = self.base(names) + rng.normal(0.0, 0.01, size=len(names))
        msg = JointState(name=names, position=[float(v) for v in q])
        msg.header.stamp = _time(self.now())
        if kind == "valid":
            return msg
        if kind == "fewer positions than names":
            msg.position = list(msg.position)[: int(rng.integers(0, len(names)))]
        elif kind == "more positions than names":
            msg.position = list(msg.position) + [0.0] * int(rng.integers(1, 5))
        elif kind == "non-finite":
            pos = list(msg.position)
            pos[int(rng.integers(0, len(pos)))] = BAD_FLOATS[int(rng.integers(0, 3))]
            msg.position = pos
        elif kind == "huge":
            msg.position = [BAD_FLOATS[int(rng.integers(3, 7))]] * len(names)
        elif kind == "empty":
            msg.name, msg.position = [], []
        elif kind == "duplicate and unknown names":
            msg.name = names[:-2] + [names[0], ODD_NAMES[int(rng.integers(0, len(ODD_NAMES)))]]
        elif kind == "velocity and effort of other lengths":
            msg.velocity, msg.effort = [math.nan] * 3, [1e9] * 40
        elif kind == "zero stamp":
            msg.header.stamp = Time()
        elif kind == "far-future stamp":
            msg.header.stamp = _time(self.now() + 1e6)
        else:
            raise ValueError(f"unknown joint state kind {kind!r}")
        return msg

    # -- images ---------------------------------------------------------------------------------------------
    def images(self, count: int, valid_hw: tuple[int, int] = (48, 64)) -> Iterator[tuple[str, Image]]:
        for i in range(count):
            kind = IMAGE_KINDS[i % len(IMAGE_KINDS)]
            yield kind, self._image(kind, valid_hw)

    def _image(self, kind: str, hw: tuple[int, int]) -> Image:
        rng = self.rng
        h, w = hw
        msg = Image(height=h, width=w, encoding="rgb8", step=3 * w)
        msg.header.stamp = _time(self.now())
        data = rng.integers(0, 255, h * w * 3, dtype=np.uint8)
        if kind == "valid":
            msg.data = data.tobytes()
        elif kind == "data shorter than height*step":
            msg.data = data[: len(data) // 2].tobytes()
        elif kind == "step smaller than a row":
            msg.step, msg.data = w, data.tobytes()
        elif kind == "zero size":
            msg.height = msg.width = msg.step = 0
            msg.data = b""
        elif kind == "huge size, little data":
            msg.height, msg.width, msg.step = 100_000, 100_000, 300_000
            msg.data = data[:100].tobytes()
        elif kind == "unknown encoding":
            msg.encoding, msg.data = ["", "garbage", "32FC1", "yuv422", "bayer_rggb8"][int(rng.integers(0, 5))], data.tobytes()
        elif kind == "mono16":
            msg.encoding, msg.step = "mono16", 2 * w
            msg.data = rng.integers(0, 255, h * w * 2, dtype=np.uint8).tobytes()
        elif kind == "zero stamp":
            msg.header.stamp, msg.data = Time(), data.tobytes()
        elif kind == "other size":
            h2, w2 = int(rng.integers(1, 300)), int(rng.integers(1, 300))
            msg.height, msg.width, msg.step = h2, w2, 3 * w2
            msg.data = rng.integers(0, 255, h2 * w2 * 3, dtype=np.uint8).tobytes()
        else:
            raise ValueError(f"unknown image kind {kind!r}")
        return msg

    # -- instructions ---------------------------------------------------------------------------------------
    def instructions(self, count: int, valid: str = "") -> Iterator[tuple[str, String]]:
        texts = (("empty", ""), ("valid", valid), ("unknown", "dance the tango"), ("1 MB", "x" * 1_000_000),
                 ("control characters", "\x00\x07\x1b[2Jreach\n\r"), ("unicode", "reach 🤖 the cube ✓ ünï"),
                 ("almost valid", valid.upper() + " "))
        for i in range(count):
            kind, text = texts[i % len(texts)]
            yield kind, String(data=text)


CHUNK_KINDS: tuple[str, ...] = (
    "valid", "ragged point", "short point", "non-finite", "huge positions", "far outside the limits", "no names",
    "no points", "duplicate names", "unknown or odd names", "leg joints", "zero stamp", "far-future stamp",
    "ancient stamp", "times not increasing", "negative or huge times", "many points", "velocities of the wrong length",
)
JOINT_STATE_KINDS: tuple[str, ...] = (
    "valid", "fewer positions than names", "more positions than names", "non-finite", "huge", "empty",
    "duplicate and unknown names", "velocity and effort of other lengths", "zero stamp", "far-future stamp",
)
IMAGE_KINDS: tuple[str, ...] = (
    "valid", "data shorter than height*step", "step smaller than a row", "zero size", "huge size, little data",
    "unknown encoding", "mono16", "zero stamp", "other size",
)
