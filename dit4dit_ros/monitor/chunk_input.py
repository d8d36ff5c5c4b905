"""The monitor's check of an incoming action chunk before it draws it (ROS-free).

Any process on the ROS domain can publish a chunk, and the monitor must survive every well-typed one: a single
point with 9 positions among 7-joint points made `np.array` raise outside the monitor's error handling and
killed the node. Only what can be drawn passes; everything else is a ValueError naming the problem.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_DRAWN_POINTS = 1000  # forward kinematics per point: a huge chunk must not stall the node


def chunk_positions(joint_names: Sequence[str], points: Sequence[Sequence[float]],
                    max_points: int = MAX_DRAWN_POINTS) -> np.ndarray:
    """(H, J) finite positions of a chunk's points, or ValueError saying why it cannot be drawn."""
    n = len(joint_names)
    if n == 0:
        raise ValueError("chunk has no joint names")
    if len(points) > max_points:
        raise ValueError(f"chunk has {len(points)} points; at most {max_points} are drawn")
    ragged = [k for k, p in enumerate(points) if len(p) != n]
    if ragged:
        raise ValueError(f"point(s) {ragged[:5]} have {len(points[ragged[0]])} positions; expected {n} "
                         "(one per joint name)")
    positions = np.array(points, dtype=np.float64).reshape(len(points), n)
    if not np.all(np.isfinite(positions)):
        raise ValueError("chunk positions contain NaN/inf")
    return positions
