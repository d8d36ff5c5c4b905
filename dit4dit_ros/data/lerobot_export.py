"""Recorded episode bags -> a LeRobot dataset (v2.1 or v3.0) on a fixed frame grid.

For each episode: the frame grid at `fps` spans the time where images, joint states and commands all have
data; state = the state streams interpolated at each frame time, action = the command in force at that time
(the last one sent), image = the camera frame captured nearest to the frame time (see resample.py). The
instruction (episode.json, else the last one on the instruction topic) becomes the task.

The dataset's fps defaults to the camera's frame rate (the median interval between captured frames of the
first episode, rounded to an integer as LeRobot stores it): a grid faster than the camera repeats camera
frames (at 30 fps on a 10 Hz camera two of three frames are copies), which the export counts per episode and
warns about.

State and action vectors are G1 body-part groups (g1/channels.py). Each channel comes from the first listed
stream that carries it: /joint_states (JointState, any names incl. hand joints and gripper channels), the
executor's command topic (JointState), Unitree LowCmd (/lowcmd, /arm_sdk: the 29 body joints) or Dex3-1
HandCmd (/dex3/left/cmd, /dex3/right/cmd: that hand's 7 joints).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.bag_reader import EpisodeBag
from dit4dit_ros.data.episode_store import STATUS_COMPLETE, STATUS_RECOVERED, EpisodeStore
from dit4dit_ros.data.lerobot_writer import DEFAULT_GROUPS, DatasetSpec, LeRobotDatasetWriter
from dit4dit_ros.data.resample import frame_grid, hold_last, interpolate, max_gap_s, nearest
from dit4dit_ros.data.topics import COMMAND_TOPIC, IMAGE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC

LOG = logging.getLogger(__name__)


@dataclass
class ExportConfig:
    fps: int | None = None  # frame rate of the dataset grid; None = the camera's rate
    image_topic: str = IMAGE_TOPIC
    state_topics: tuple[str, ...] = (JOINT_STATES_TOPIC,)
    action_topics: tuple[str, ...] = (COMMAND_TOPIC,)  # or /lowcmd, /arm_sdk, /dex3/<side>/cmd (Unitree DDS)
    instruction_topic: str = INSTRUCTION_TOPIC
    state_groups: tuple[str, ...] = DEFAULT_GROUPS
    action_groups: tuple[str, ...] = DEFAULT_GROUPS
    video_key: str = "ego_view"
    image_size: tuple[int, int] | None = None  # (H, W) to resize to; None keeps the camera's size
    codec: str = "h264"
    crf: int = 23
    gop: int = 10
    time_source: str = "header"
    only_success: bool = False  # skip episodes not marked success (unmarked ones too)
    task: str | None = None  # overrides the recorded instruction
    max_gap_s: float = 0.5  # a stream silent for longer than this inside an episode -> episode skipped
    robot_type: str = "unitree_g1"
    format_version: str = fmt.CODEBASE_VERSION  # "v2.1" or "v3.0"

    def __post_init__(self) -> None:
        if self.fps is not None and (not isinstance(self.fps, int) or self.fps <= 0):
            raise ValueError(f"fps must be a positive integer or None (the camera's rate), got {self.fps!r}")
        for name in ("state_topics", "action_topics"):
            topics = getattr(self, name)
            topics = (topics,) if isinstance(topics, str) else tuple(topics)
            if not topics or not all(isinstance(t, str) and t for t in topics):
                raise ValueError(f"{name} must name at least one topic, got {getattr(self, name)!r}")
            setattr(self, name, topics)
        if self.image_size is not None:
            h, w = self.image_size
            if h <= 0 or w <= 0 or h % 2 or w % 2:
                raise ValueError(f"image_size {self.image_size} must be even positive (height, width)")
        if self.max_gap_s <= 0:
            raise ValueError("max_gap_s must be > 0")
        if self.format_version not in fmt.FORMATS:
            raise ValueError(f"format_version {self.format_version!r}; expected one of {fmt.FORMATS}")


@dataclass
class EpisodeExport:
    bag: Path
    episode_index: int | None  # in the dataset; None if skipped
    frames: int = 0
    skipped: str | None = None
    max_gaps_s: dict[str, float] = field(default_factory=dict)
    max_image_offset_ms: float = 0.0
    repeated_frames: int = 0  # dataset frames showing the same camera frame as the frame before


def find_bags(inputs: Sequence[Path | str]) -> list[Path]:
    """Bag directories from the inputs: a recorder output root (its finished episodes) or bag directories."""
    bags: list[Path] = []
    for item in inputs:
        path = Path(item)
        if (path / "metadata.yaml").is_file():
            bags.append(path)
        elif path.is_dir():
            found = [e.path for e in EpisodeStore(path).episodes() if e.info.status in (STATUS_COMPLETE, STATUS_RECOVERED)]
            if not found:
                raise FileNotFoundError(f"{path}: no rosbag2 bag and no finished episode_* directories in it")
            bags += found
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return bags


def _resize(rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or rgb.shape[:2] == tuple(size):
        return rgb
    import cv2

    return cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def camera_fps(image_times_ns: np.ndarray) -> int:
    """The camera's frame rate as an integer: 1 / the median interval between captured frames."""
    t = np.sort(np.asarray(image_times_ns, np.int64))
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        raise ValueError("cannot tell the camera's frame rate from fewer than two distinct image times; pass fps")
    return max(1, int(round(1e9 / float(np.median(dt)))))


def export_episodes(bags: Sequence[Path], output: Path | str, config: ExportConfig, overwrite: bool = False) -> list[EpisodeExport]:
    """Export `bags` (in order) into a new dataset at `output`; returns one report per bag."""
    if not bags:
        raise ValueError("no episodes to export")
    first = EpisodeBag(bags[0], config.time_source)
    size = config.image_size or first.image_size(config.image_topic)
    rate = camera_fps(first.image_times(config.image_topic))
    fps = config.fps or rate
    if fps > rate:
        LOG.warning("dataset fps %d is above the camera's ~%d Hz (%s): frames will repeat camera images",
                    fps, rate, config.image_topic)
    spec = DatasetSpec(
        fps=fps,
        state_groups=config.state_groups,
        action_groups=config.action_groups,
        video_sizes={config.video_key: tuple(size)},
        codec=config.codec,
        robot_type=config.robot_type,
        format_version=config.format_version,
    )
    writer = LeRobotDatasetWriter(output, spec, overwrite=overwrite, crf=config.crf, gop=config.gop)
    reports = []
    try:
        for path in bags:
            report = _export_one(writer, spec, path, config, size)
            reports.append(report)
            if report.skipped:
                LOG.warning("skipped %s: %s", path, report.skipped)
                continue
            LOG.info("exported %s -> episode %d (%d frames)", path, report.episode_index, report.frames)
            if report.repeated_frames:
                LOG.warning("%s: %d of %d frames repeat the camera frame before them (dataset %d fps, camera ~%d "
                            "Hz); export at the camera's rate (leave fps unset) to avoid duplicates",
                            path, report.repeated_frames, report.frames, fps, rate)
        if all(r.skipped for r in reports):
            raise ValueError("every episode was skipped: " + "; ".join(f"{r.bag.name}: {r.skipped}" for r in reports))
        writer.finalize()
    except BaseException:
        writer.abort()
        raise
    return reports


def _export_one(writer: LeRobotDatasetWriter, spec: DatasetSpec, path: Path, config: ExportConfig,
                size: tuple[int, int]) -> EpisodeExport:
    bag = EpisodeBag(path, config.time_source)
    report = EpisodeExport(path, None)
    if config.only_success and (bag.info is None or bag.info.success is not True):
        report.skipped = "not marked success"
        return report
    task = config.task or (bag.info.instruction if bag.info and bag.info.instruction else "")
    if not task:
        recorded = [t for t in bag.instructions(config.instruction_topic) if t]
        task = recorded[-1] if recorded else ""
    if not task:
        raise ValueError(f"{path}: no instruction recorded (episode.json or {config.instruction_topic}); pass a task")

    state_parts = bag.channel_series(config.state_topics, spec.state_names)
    action_parts = bag.channel_series(config.action_topics, spec.action_names)
    image_t = bag.image_times(config.image_topic)
    order = np.argsort(image_t, kind="stable")
    sorted_t = image_t[order]
    times = {config.image_topic: sorted_t}
    times.update({topic: series.times_ns for topic, series, _ in state_parts + action_parts})
    start = max(int(t[0]) for t in times.values())
    end = min(int(t[-1]) for t in times.values())
    grid = frame_grid(start, end, spec.fps)
    if grid.size < 2:
        report.skipped = f"streams overlap for {max(0, end - start) * 1e-9:.3f} s only"
        return report
    report.max_gaps_s = {topic: max_gap_s(t, start, end) for topic, t in times.items()}
    worst = max(report.max_gaps_s, key=report.max_gaps_s.get)
    if report.max_gaps_s[worst] > config.max_gap_s:
        report.skipped = f"{worst} has a {report.max_gaps_s[worst]:.3f} s gap (max_gap_s {config.max_gap_s})"
        return report

    pick = nearest(sorted_t, grid)
    report.max_image_offset_ms = float(np.max(np.abs(sorted_t[pick] - grid)) * 1e-6)
    message_index = order[pick]  # bag position of the image shown at each frame
    report.repeated_frames = int(np.count_nonzero(np.diff(message_index) == 0))

    if np.any(np.diff(message_index) < 0):
        raise ValueError(f"{path}: image capture times are out of bag order (use time_source='receive')")

    def frames() -> Iterator[np.ndarray]:
        decoded = bag.iter_images(config.image_topic, np.unique(message_index))
        current_i, current = -1, None
        for i in message_index:  # non-decreasing: each image is decoded once, repeated where the grid needs it
            while current_i != i:
                current_i, current = next(decoded)
            yield _resize(current, size)

    state = np.empty((grid.size, len(spec.state_names)))
    for _, series, columns in state_parts:
        state[:, columns] = interpolate(series, grid)
    action = np.empty((grid.size, len(spec.action_names)))
    for _, series, columns in action_parts:
        action[:, columns] = hold_last(series, grid)
    report.episode_index = writer.add_episode(task, state, action, {config.video_key: frames()})
    report.frames = int(grid.size)
    return report
