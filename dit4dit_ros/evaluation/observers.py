"""Observers of evaluation episodes: the rollout video (composed frames) as an EpisodeObserver."""
from __future__ import annotations

import numpy as np

from dit4dit_ros.evaluation.episode import StepSample
from dit4dit_ros.evaluation.results import EpisodeResult
from dit4dit_ros.evaluation.video import Overlay, RolloutVideos, compose_frame


class VideoObserver:
    """Writes a composed frame for every step that brings a new scene view (or, without a scene camera, a new ego
    image); the other view is the newest one seen. Only the first `videos.episodes` episodes are written."""

    def __init__(self, videos: RolloutVideos) -> None:
        self.videos = videos
        self._active = False
        self._seed = 0
        self._instruction = ""
        self._ego: np.ndarray | None = None
        self._scene: np.ndarray | None = None
        self._has_scene = False
        self.paths: dict[int, str] = {}  # seed -> per-episode video

    def start_episode(self, index: int, seed: int, instruction: str) -> None:
        self._active = self.videos.wants(index)
        self._seed, self._instruction = seed, instruction
        self._ego = self._scene = None
        if self._active:
            self.videos.start_episode(seed)

    def observe(self, sample: StepSample) -> None:
        if not self._active:
            return
        if sample.ego is not None:
            self._ego = sample.ego
        if sample.scene is not None:
            self._scene, self._has_scene = sample.scene, True
        new_frame = sample.scene is not None if self._has_scene else sample.ego is not None
        if not new_frame:
            return
        overlay = Overlay(self._instruction, self._seed, sample.sim_time, sample.distance, sample.executor_mode,
                          sample.success)
        self.videos.write(compose_frame(self._scene, self._ego, overlay))

    def end_episode(self, result: EpisodeResult) -> None:
        if self._active:
            path = self.videos.end_episode()
            if path:
                result.video = path
                self.paths[result.seed] = path
        self._active = False

    def close(self) -> None:
        self.videos.close()
