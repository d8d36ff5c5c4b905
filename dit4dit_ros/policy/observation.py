"""Assemble one policy observation from asynchronous camera frames and joint states.

The camera (~30 Hz) and the proprioception (hundreds of Hz) arrive independently. An observation is the
newest frame (its capture stamp is the observation time) with the joint state nearest to that stamp; the
model's conditioning frames are the newest `num_frames` frames spaced by `frame_stride`. Inputs older than
their age limit make the observation unusable, with a reason that the node logs and puts on diagnostics:
a policy must never act on a frozen camera or a silent robot.
"""
from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.hand_command import joints_to_gripper
from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES, HAND_JOINT_NAMES, SIDE_OF_NAME
from dit4dit_ros.utils.param_fields import param_field


@dataclass(frozen=True)
class ObservationConfig:
    num_frames: int = 1  # conditioning frames the model takes
    # Node parameters of the policy node too (utils/param_fields.py): declared here once.
    # frame_stride: dataset fps / camera fps ratio
    frame_stride: int = param_field(1, "use every k-th camera frame for the frame history", minimum=1, maximum=100)
    max_image_age: float = param_field(0.5, "seconds after which a camera frame is stale", minimum=0.001,
                                       maximum=60.0)
    max_state_age: float = param_field(0.1, "seconds after which joint states are stale", minimum=0.001,
                                       maximum=60.0)
    max_state_image_skew: float = param_field(0.05, "max |t_state - t_frame| [s] when pairing", minimum=0.0001,
                                              maximum=10.0)
    state_at_frame: bool = param_field(
        False, "wait until a joint state at or after the frame's time has arrived before pairing (a lock-stepped "
        "simulator: its state of the frame's time is on its way; the nearest earlier one would depend on timing)")
    state_history: int = 256  # joint states kept for pairing

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_stride < 1:
            raise ValueError(f"num_frames and frame_stride must be >= 1, got {self.num_frames}, {self.frame_stride}")
        for name in ("max_image_age", "max_state_age", "max_state_image_skew"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.state_history < 2:
            raise ValueError(f"state_history must be >= 2, got {self.state_history}")


@dataclass(frozen=True)
class Observation:
    stamp: float  # observation time (capture time of the newest frame), seconds on the ROS clock
    frames: tuple[np.ndarray, ...]  # oldest first, uint8 HxWx3
    joint_positions: np.ndarray  # in the order of `joint_names` given to the buffer
    state_stamp: float


class ObservationUnavailable(RuntimeError):
    """No usable observation now; the message says which input is missing or stale."""


class ObservationBuffer:
    """Thread-safe store of recent frames and joint states; `latest(now)` pairs them."""

    def __init__(self, config: ObservationConfig, joint_names: list[str] | tuple[str, ...]) -> None:
        self.config = config
        self.joint_names = tuple(joint_names)
        self._lock = threading.Lock()
        needed = (config.num_frames - 1) * config.frame_stride + 1
        self._frames: deque[tuple[float, np.ndarray]] = deque(maxlen=needed)
        self._state_times: deque[float] = deque(maxlen=config.state_history)
        self._states: deque[np.ndarray] = deque(maxlen=config.state_history)
        self._index_cache: tuple[tuple[str, ...], np.ndarray] | None = None

    def add_frame(self, stamp: float, image: np.ndarray) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 HxWx3 (rgb8), got {image.dtype} {image.shape}")
        with self._lock:
            if self._frames and stamp < self._frames[-1][0]:
                self._frames.clear()  # clock jumped back (sim reset): old frames are no history of this one
            self._frames.append((stamp, image))

    def add_joint_state(self, stamp: float, names: list[str] | tuple[str, ...], positions: np.ndarray) -> None:
        """Store the positions of this buffer's joints; a message lacking one of them is an error. A gripper
        channel (left_gripper / right_gripper of the official G1 layout) comes from its hand's 7 joints in the
        message (g1_state with hands: dex3), through the synergy's least-squares fit (g1/hand_command.py)."""
        names = tuple(names)
        if self._index_cache is None or self._index_cache[0] != names:
            self._index_cache = (names, *self._indices(names))
        _, index, grippers = self._index_cache
        positions = np.asarray(positions, dtype=np.float64)
        values = positions[index]
        for k, side, hand_index in grippers:
            values[k] = joints_to_gripper(side, positions[hand_index])
        if not np.all(np.isfinite(values)):
            raise ValueError("joint state has non-finite positions")
        with self._lock:
            if self._state_times and stamp < self._state_times[-1]:
                self._state_times.clear()
                self._states.clear()
            self._state_times.append(stamp)
            self._states.append(values)

    def _indices(self, names: tuple[str, ...]) -> tuple[np.ndarray, list]:
        """(index of each buffer joint in `names`, [(position, side, hand joint indices) of derived grippers])."""
        lookup = {n: i for i, n in enumerate(names)}
        grippers = []
        for k, n in enumerate(self.joint_names):
            side = SIDE_OF_NAME.get(n) if n in ALL_GRIPPER_NAMES and n not in lookup else None
            if side is not None and all(h in lookup for h in HAND_JOINT_NAMES[side]):
                grippers.append((k, side, np.array([lookup[h] for h in HAND_JOINT_NAMES[side]], dtype=np.int64)))
        derived = {k for k, _, _ in grippers}
        missing = [n for k, n in enumerate(self.joint_names) if n not in lookup and k not in derived]
        if missing:
            raise ValueError(f"joint state lacks joints the policy needs: {missing}")
        return np.array([lookup.get(n, 0) for n in self.joint_names], dtype=np.int64), grippers

    def latest(self, now: float) -> Observation:
        """The newest complete observation, or ObservationUnavailable naming the stale/missing input."""
        cfg = self.config
        with self._lock:
            frames = list(self._frames)
            times = list(self._state_times)
            states = list(self._states)
        if not frames:
            raise ObservationUnavailable("no camera frame received yet")
        if not times:
            raise ObservationUnavailable("no joint state received yet")
        t_img, _ = frames[-1]
        if now - t_img > cfg.max_image_age:
            raise ObservationUnavailable(f"camera frame is stale: {now - t_img:.3f} s old (limit {cfg.max_image_age} s)")
        if now - times[-1] > cfg.max_state_age:
            raise ObservationUnavailable(f"joint state is stale: {now - times[-1]:.3f} s old (limit {cfg.max_state_age} s)")
        needed = (cfg.num_frames - 1) * cfg.frame_stride + 1
        if len(frames) < needed:
            raise ObservationUnavailable(f"frame history has {len(frames)} of the {needed} frames needed")
        picked = tuple(frames[-1 - k * cfg.frame_stride][1] for k in reversed(range(cfg.num_frames)))
        if cfg.state_at_frame and times[-1] < t_img - 1e-6:
            raise ObservationUnavailable(f"waiting for the joint state of the frame's time ({t_img:.3f} s; newest "
                                         f"{times[-1]:.3f} s)")
        i = bisect.bisect_left(times, t_img)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(times)]
        j = min(candidates, key=lambda k: abs(times[k] - t_img))
        if abs(times[j] - t_img) > cfg.max_state_image_skew:
            raise ObservationUnavailable(
                f"no joint state within {cfg.max_state_image_skew} s of the frame (nearest {times[j] - t_img:+.3f} s)"
            )
        return Observation(stamp=t_img, frames=picked, joint_positions=states[j].copy(), state_stamp=times[j])
