"""What an evaluation run hands to its observers (video, Rerun recording) at each step of an episode.

Both runners (direct.py, graph.py) describe a step the same way, so that a video or a recording looks the same
whichever way the episodes ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dit4dit_ros.evaluation.results import EpisodeResult


@dataclass
class StepSample:
    sim_time: float  # s since the episode's reset
    success: bool  # the episode has met the success rule by now
    distance: float | None = None  # the task's distance metric (m)
    executor_mode: str = "-"
    ego: np.ndarray | None = None  # the image the policy saw (H, W, 3) uint8, when one is new at this step
    scene: np.ndarray | None = None  # third-person view, when one is new at this step
    joints: dict[str, float] = field(default_factory=dict)  # measured joint positions (rad) by URDF name
    objects: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name -> (xyz, wxyz) in world
    inference_seconds: float | None = None  # a chunk computed at this step took this long


class EpisodeObserver(Protocol):
    def start_episode(self, index: int, seed: int, instruction: str) -> None: ...
    def observe(self, sample: StepSample) -> None: ...
    def end_episode(self, result: EpisodeResult) -> None: ...
    def close(self) -> None: ...
