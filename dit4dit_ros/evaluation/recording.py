"""`dit4dit eval --rrd FILE`: every episode of an evaluation in one Rerun recording.

The recording holds the scene model (robot meshes under /world/g1, the table, cube and target under /world/scene),
its pose at every step, the ego image in the head camera's frustum, the third-person view (when rendered), the
distance to the target and each chunk's inference time as plots, and the episodes' starts and verdicts as text
(entity tree: monitor/rerun_view.py). Timelines: `sim_time` (episodes one after another, a gap between them) and
`episode` (the episode's index), so the viewer can scrub one episode or the whole run. Open it with
`rerun FILE` or `rerun FILE --web-viewer --bind 127.0.0.1`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit4dit_ros.evaluation.episode import StepSample
from dit4dit_ros.evaluation.results import EpisodeResult

APPLICATION_ID = "dit4dit_eval"
EPISODE_GAP = 1.0  # s of sim_time between two episodes on the run's timeline


class EvalRecording:
    """An EpisodeObserver that writes the episodes into `path` (.rrd)."""

    def __init__(self, path: Path | str, mode: str = "") -> None:
        import rerun as rr

        from dit4dit_ros.monitor.rerun_view import RerunRobotView
        from dit4dit_ros.sim.scene import build_model

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rr = rr
        from dit4dit_ros.monitor.rerun_view import default_blueprint

        self.rec = rr.RecordingStream(APPLICATION_ID)
        self.rec.save(str(self.path), default_blueprint=default_blueprint())
        self.view = RerunRobotView(self.rec, build_model())
        self._static_done = False
        self._offset = 0.0
        self._last_time = 0.0
        self._index = 0
        self._seed = 0
        self.mode = mode

    def _at(self, sim_time: float) -> None:
        self.rec.set_time("sim_time", duration=self._offset + sim_time)
        self.rec.set_time("episode", sequence=self._index)

    def start_episode(self, index: int, seed: int, instruction: str) -> None:
        rr = self._rr
        self._index, self._seed, self._last_time = index, seed, 0.0
        self._at(0.0)
        self.rec.log("/log/episodes", rr.TextLog(f"episode {index}: seed {seed}, '{instruction}' ({self.mode})",
                                                  level=rr.TextLogLevel.INFO))

    def observe(self, sample: StepSample) -> None:
        rr = self._rr
        if not self._static_done and sample.ego is not None:
            self.view.log_static(image_size=sample.ego.shape[:2])
            self._static_done = True
        self._at(sample.sim_time)
        self._last_time = max(self._last_time, sample.sim_time)
        if sample.joints or sample.objects:
            self.view.pose(sample.joints, sample.objects)
            self.view.log_poses()
        if sample.ego is not None:
            self.view.log_ego_image(sample.ego)
        if sample.scene is not None:
            self.rec.log("/camera/scene", rr.Image(sample.scene).compress(jpeg_quality=80))
        if sample.distance is not None and np.isfinite(sample.distance):
            self.rec.log("/plots/distance_to_target", rr.Scalars(sample.distance))
        if sample.inference_seconds is not None:
            self.rec.log("/plots/inference_ms", rr.Scalars(sample.inference_seconds * 1e3))
        self.rec.log("/plots/success", rr.Scalars(float(sample.success)))

    def end_episode(self, result: EpisodeResult) -> None:
        rr = self._rr
        self._at(self._last_time)
        verdict = "success" if result.success else "failure"
        self.rec.log("/log/episodes", rr.TextLog(
            f"seed {result.seed}: {verdict}, min distance {result.min_distance:.3f} m",
            level=rr.TextLogLevel.INFO if result.success else rr.TextLogLevel.WARN))
        self._offset += self._last_time + EPISODE_GAP

    def close(self) -> None:
        self.rec.flush()
        self.rec.disconnect()


@dataclass(frozen=True)
class RecordingSummary:
    entities: set[str]
    timelines: set[str]
    time_range: dict[str, tuple[float, float]]  # timeline -> (min, max); durations and timestamps in s


def recording_summary(path: Path | str) -> RecordingSummary:
    """The entity paths, timelines and their ranges of an .rrd (for tests and tools)."""
    import pyarrow as pa
    import rerun as rr

    entities, timelines, ranges = set(), set(), {}
    for chunk in rr.chunk.RrdReader(str(path)).stream():
        entities.add(chunk.entity_path)
        if chunk.is_static:
            continue
        batch = chunk.to_record_batch()
        for name in chunk.timeline_names:
            timelines.add(name)
            column = batch.column(name)
            if pa.types.is_duration(column.type) or pa.types.is_timestamp(column.type):
                values = column.cast(pa.int64()).to_numpy(zero_copy_only=False) * 1e-9
            else:
                values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            lo, hi = ranges.get(name, (np.inf, -np.inf))
            ranges[name] = (min(lo, float(values.min())), max(hi, float(values.max())))
    return RecordingSummary(entities, timelines, ranges)
