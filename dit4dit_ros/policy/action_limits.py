"""A checkpoint's action range against the joint limits of the joints it drives, checked when it is loaded for
a robot (ROS-free).

The model's outputs are un-normalised with the checkpoint's statistics: with min-max normalisation the range
[min, max] of each action joint is exactly where an output of -1..1 lands. A normalization.json whose range
exceeds the joint's position limits (a hand edit, a dataset recorded in other units, +-100 rad in the issue's
trial) lets the model command targets far outside the joint: the executor's filter clipped them, but seven
joints sat pinned at their limits with 52,460 limit hits and no alarm. So the range is checked at load time:
`refuse` (the node does not start, naming the joints) or `clamp` (it starts, says so loudly, and clamps every
chunk to the joint limits before publishing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dit4dit_ros.g1.channels import channel_position_limits

ACTION_RANGE_CHECKS = ("refuse", "clamp")


def action_range_problems(joint_names: Sequence[str], low: np.ndarray, high: np.ndarray,
                          tolerance: float) -> list[str]:
    """One line per channel whose action range [low, high] leaves its position limits by more than `tolerance`
    (joints in rad; the official layout's grippers in [0, 1])."""
    lo_lim, hi_lim = channel_position_limits(tuple(joint_names))
    problems = []
    for name, lo, hi, lmin, lmax in zip(joint_names, low, high, lo_lim, hi_lim):
        if lo < lmin - tolerance or hi > lmax + tolerance:
            problems.append(f"{name}: action range [{lo:.3g}, {hi:.3g}] rad, joint limits [{lmin:.3g}, {lmax:.3g}] rad")
    return problems


@dataclass
class ActionLimitGuard:
    """Built from a checkpoint's action statistics; raises at construction in `refuse` mode, clamps in `clamp`."""

    joint_names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    mode: str = "refuse"
    tolerance: float = 0.1
    source: str = "the checkpoint"

    def __post_init__(self) -> None:
        if self.mode not in ACTION_RANGE_CHECKS:
            raise ValueError(f"action range check {self.mode!r}; expected one of {ACTION_RANGE_CHECKS}")
        self.joint_names = tuple(self.joint_names)
        self.problems = action_range_problems(self.joint_names, np.asarray(self.low, np.float64),
                                              np.asarray(self.high, np.float64), self.tolerance)
        if self.problems and self.mode == "refuse":
            raise ValueError(f"{self.source}: the action normalisation range exceeds the joint limits of "
                             f"{len(self.problems)} joint(s) by more than {self.tolerance} rad: "
                             f"{'; '.join(self.problems)} (set action_range_check:=clamp to run clamped)")
        self._lo, self._hi = channel_position_limits(self.joint_names)
        self.clamped_points = 0

    @property
    def clamping(self) -> bool:
        return bool(self.problems)

    def apply(self, positions: np.ndarray) -> np.ndarray:
        """(H, J) positions within the joint limits (only when the range was found too wide; else unchanged)."""
        if not self.problems:
            return positions
        clamped = np.clip(positions, self._lo, self._hi)
        self.clamped_points += int(np.count_nonzero(np.any(clamped != positions, axis=-1)))
        return clamped
