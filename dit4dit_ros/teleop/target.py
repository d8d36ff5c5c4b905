"""What every teleop source produces: joint position targets for a subset of G1 joints, and gripper setpoints
(left_gripper / right_gripper, 0 open .. 1 closed) for the Dex3-1 hands."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES
from dit4dit_ros.g1.joints import joint_indices


@dataclass(frozen=True)
class TeleopTarget:
    """Position targets (rad; grippers 0..1) for `joint_names`, in that order; published as a sensor_msgs/JointState."""

    joint_names: tuple[str, ...]
    positions: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(self.joint_names)
        object.__setattr__(self, "joint_names", names)
        pos = np.asarray(self.positions, dtype=np.float64).reshape(-1)
        if pos.size != len(names):
            raise ValueError(f"teleop target has {len(names)} joint names but {pos.size} positions")
        if len(set(names)) != len(names):
            raise ValueError(f"teleop target names a joint twice: {list(names)}")
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"teleop target positions must be finite, got {pos.tolist()}")
        joint_indices([n for n in names if n not in ALL_GRIPPER_NAMES])  # unknown names -> ValueError listing the valid ones
        grips = pos[[k for k, n in enumerate(names) if n in ALL_GRIPPER_NAMES]]
        if grips.size and (grips.min() < 0.0 or grips.max() > 1.0):
            raise ValueError(f"teleop gripper values must be in [0, 1] (0 open, 1 closed), got {grips.tolist()}")
        pos.setflags(write=False)
        object.__setattr__(self, "positions", pos)

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.joint_names, self.positions)}
