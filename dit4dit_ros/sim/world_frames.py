"""The simulator's world frames (ROS-free): where the robot stands and where the objects are.

Computed in the physics process (sim/core_process.py) and published on /tf_static and /tf by the ROS node
(nodes/tf_publishing.ObjectFramePublisher).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dit4dit_ros.g1.description import FrameTransform

WORLD_FRAME = "world"


def stand_frame(model: Any) -> FrameTransform:
    """world -> the robot's root body (pelvis), welded to the world: the stand it hangs from."""
    root = model.body(1)
    return FrameTransform(WORLD_FRAME, root.name, np.array(model.body_pos[1]), np.array(model.body_quat[1]))


def object_frames(data: Any, objects: tuple[str, ...]) -> list[FrameTransform]:
    """world -> each object in `data` now (copies: they are sent on and published later)."""
    return [FrameTransform(WORLD_FRAME, name, data.body(name).xpos.copy(), data.body(name).xquat.copy())
            for name in objects]


__all__ = ["WORLD_FRAME", "object_frames", "stand_frame"]
