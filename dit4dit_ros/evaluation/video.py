"""Rollout videos a person can read: the third-person scene view beside the ego view, with what happened written on it.

Each frame shows, left, the simulator's scene camera (sim/camera.py ViewPoint) and, right, the ego image the
policy saw (upscaled, nearest neighbour, so its pixels stay visible), over a text band: instruction, seed,
simulation time, palm-to-target distance, executor mode, and the success verdict (green once the SuccessHold rule
is met). Frames come at the rate the caller writes them (direct mode: every control frame, 10 fps; graph mode:
every scene-camera frame, 10 fps of simulation time).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCENE_SIZE = (240, 320)  # (H, W) of the scene view in the video (the scene camera renders at this size)
BAND_HEIGHT = 72  # text band under the views
_WHITE, _GREEN, _GREY = (255, 255, 255), (60, 220, 60), (170, 170, 170)


@dataclass(frozen=True)
class Overlay:
    """The facts written on a frame."""

    instruction: str
    seed: int
    sim_time: float  # s since the episode's reset
    distance: float | None  # the task's distance metric (m), None when unknown
    executor_mode: str  # e.g. RUNNING, SOFT_START; "-" when unknown
    success: bool  # the episode has met the success rule by this frame


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    """`image` scaled to `height` rows: integer nearest-neighbour upscaling when it is smaller, area resize else."""
    import cv2

    h, w = image.shape[:2]
    if h == height:
        return image
    if h < height and height % h == 0:
        k = height // h
        return np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    return cv2.resize(image, (max(2, round(w * height / h)), height),
                      interpolation=cv2.INTER_NEAREST if h < height else cv2.INTER_AREA)


def compose_frame(scene: np.ndarray | None, ego: np.ndarray | None, overlay: Overlay,
                  ego_width: int = SCENE_SIZE[0]) -> np.ndarray:
    """One video frame (H, W, 3) uint8: scene | ego side by side over the text band. A missing view is black."""
    import cv2

    height = SCENE_SIZE[0]
    left = _fit(scene, height) if scene is not None else np.zeros((height, SCENE_SIZE[1], 3), np.uint8)
    right = _fit(ego, height) if ego is not None else np.zeros((height, ego_width, 3), np.uint8)
    views = np.concatenate([left, right], axis=1)
    width = views.shape[1] + views.shape[1] % 2  # yuv420p: even width
    frame = np.zeros((height + BAND_HEIGHT, width, 3), np.uint8)
    frame[:height, :views.shape[1]] = views
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    cv2.putText(frame, overlay.instruction[:70], (6, height + 18), font, scale, _WHITE, 1, cv2.LINE_AA)
    distance = "-" if overlay.distance is None or not np.isfinite(overlay.distance) else f"{overlay.distance:.3f} m"
    facts = f"seed {overlay.seed}   t {overlay.sim_time:5.2f} s   distance {distance}   executor {overlay.executor_mode}"
    cv2.putText(frame, facts, (6, height + 40), font, scale, _GREY, 1, cv2.LINE_AA)
    verdict, colour = ("SUCCESS", _GREEN) if overlay.success else ("not yet", _GREY)
    cv2.putText(frame, verdict, (6, height + 63), font, 0.55, colour, 1 + overlay.success, cv2.LINE_AA)
    cv2.putText(frame, "scene", (6, 16), font, scale, _WHITE, 1, cv2.LINE_AA)
    cv2.putText(frame, "ego (policy input)", (left.shape[1] + 6, 16), font, scale, _WHITE, 1, cv2.LINE_AA)
    if overlay.success:
        frame[:4] = _GREEN
    return frame


class RolloutVideos:
    """Writes composed frames of the first `episodes` episodes: all into one mp4 (`combined`), and/or one mp4 per
    episode in `per_episode_dir` (seed_<seed>.mp4, what the report links to)."""

    def __init__(self, fps: int, combined: Path | str | None = None, per_episode_dir: Path | str | None = None,
                 episodes: int = 4) -> None:
        if fps < 1:
            raise ValueError(f"video fps must be >= 1, got {fps}")
        if episodes < 0:
            raise ValueError(f"video episodes must be >= 0, got {episodes}")
        self.fps, self.episodes = int(fps), int(episodes)
        self.combined_path = Path(combined) if combined else None
        self.per_episode_dir = Path(per_episode_dir) if per_episode_dir else None
        self._combined = None
        self._episode = None
        self._episode_path: Path | None = None
        self._count = 0

    @property
    def enabled(self) -> bool:
        return self.combined_path is not None or self.per_episode_dir is not None

    def wants(self, episode_index: int) -> bool:
        return self.enabled and episode_index < self.episodes

    def start_episode(self, seed: int) -> None:
        self.end_episode()
        if self.per_episode_dir is not None:
            self._episode_path = self.per_episode_dir / f"seed_{seed}.mp4"

    def write(self, frame: np.ndarray) -> None:
        from dit4dit_ros.data.video import VideoEncoder

        h, w = frame.shape[:2]
        if self.combined_path is not None and self._combined is None:
            self._combined = VideoEncoder(self.combined_path, w, h, self.fps, crf=23, gop=self.fps)
        if self._episode_path is not None and self._episode is None:
            self._episode = VideoEncoder(self._episode_path, w, h, self.fps, crf=23, gop=self.fps)
        for encoder in (self._combined, self._episode):
            if encoder is not None:
                encoder.write(frame)

    def end_episode(self) -> str | None:
        """Close the current episode's file; its path (None when none was written)."""
        path = None
        if self._episode is not None:
            self._episode.close()
            path = str(self._episode_path)
        self._episode, self._episode_path = None, None
        return path

    def close(self) -> None:
        self.end_episode()
        if self._combined is not None:
            self._combined.close()
            self._combined = None
