"""`dit4dit bench dataloader`: training samples per second from a LeRobot dataset with the training loader.

Without --dataset a synthetic dataset is written first (episodes recorded through the real recorder and
exported, 640x480 H.264 like the ego camera, half of each frame a moving noise texture so that decoding costs
what camera content costs), so the figure includes real video decoding and resizing.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DataloaderBenchResult:
    samples: int
    seconds: float
    first_batch_s: float
    num_workers: int
    batch_size: int
    video_frames_per_sample: int
    image_size: tuple[int, int]

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    def line(self) -> str:
        return (f"{self.samples_per_s:.1f} samples/s ({self.samples_per_s * self.video_frames_per_sample:.0f} decoded "
                f"frames/s at {self.image_size[0]}x{self.image_size[1]}), batch {self.batch_size}, "
                f"{self.num_workers} workers, first batch after {self.first_batch_s:.2f} s")


def make_synthetic_dataset(root: Path, episodes: int = 3, duration_s: float = 10.0, width: int = 640,
                           height: int = 480) -> Path:
    """Record `episodes` synthetic episodes and export them to a LeRobot dataset at `root`."""
    from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes
    from dit4dit_ros.data.synthetic import SyntheticEpisodeSpec, write_synthetic_episodes

    bags_root = Path(tempfile.mkdtemp(prefix="dit4dit_synth_bags_"))
    try:
        specs = [SyntheticEpisodeSpec(duration_s=duration_s, width=width, height=height, texture=24.0,
                                      start_ns=(1000 + 100 * i) * 1_000_000_000) for i in range(episodes)]
        bags = write_synthetic_episodes(bags_root, specs)
        export_episodes(bags, root, ExportConfig(fps=30))
    finally:
        shutil.rmtree(bags_root, ignore_errors=True)
    return root


def run_dataloader_bench(dataset: str | None, batches: int = 20, batch_size: int = 8, num_workers: int = 2,
                         image_size: tuple[int, int] = (224, 224), episodes: int = 3,
                         duration_s: float = 10.0) -> DataloaderBenchResult:
    from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig, make_dataloader

    tmp = None
    if dataset is None:
        tmp = Path(tempfile.mkdtemp(prefix="dit4dit_bench_dataset_"))
        root = make_synthetic_dataset(tmp / "dataset", episodes=episodes, duration_s=duration_s)
    else:
        root = Path(dataset)
    try:
        config = LeRobotReaderConfig(image_size=image_size)
        ds = LeRobotDataset(root, config)
        loader = make_dataloader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=True)
        t0 = time.perf_counter()
        first = None
        samples = 0
        warmup = 1
        t_start = t0
        for i, batch in enumerate(loader):
            if i == 0:
                first = time.perf_counter() - t0
            if i == warmup - 1:
                t_start = time.perf_counter()
                continue
            if i >= warmup:
                samples += batch["video"].shape[0]
            if i + 1 >= batches + warmup:
                break
        elapsed = time.perf_counter() - t_start
        del loader
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return DataloaderBenchResult(samples, elapsed, first or 0.0, num_workers, batch_size,
                                 len(config.frame_offsets), tuple(image_size))
