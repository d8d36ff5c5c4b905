"""`dit4dit bench record`: can the recorder keep up with camera + joint states on this machine?

A publisher process (nodes/synthetic_publisher.py) sends 640x480 rgb8 images at 30 Hz and JointState at
500 Hz (rates and size are options) while the recorder node runs in this process and records one episode.
Reported: messages sent / recorded / dropped per topic (dropped = sent - recorded), DDS transport gaps,
recorder backpressure drops, CPU of the recorder and of the publisher (% of one core), disk write rate.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
from dit4dit_ros.utils.waiting import wait_until


@dataclass
class RecordBenchResult:
    duration_s: float
    sent: dict[str, int]
    recorded: dict[str, int]
    transport_gaps: dict[str, int]
    backpressure_drops: dict[str, int]
    recorder_cpu_percent: float
    publisher_cpu_percent: float
    disk_mb_per_s: float
    bag_mb: float
    episode_path: str
    extra: dict = field(default_factory=dict)

    @property
    def dropped(self) -> dict[str, int]:
        return {t: self.sent[t] - self.recorded.get(t, 0) for t in self.sent}

    def table(self) -> str:
        lines = [f"{'topic':32s} {'sent':>8s} {'recorded':>9s} {'dropped':>8s} {'gaps':>6s}"]
        for topic, n in self.sent.items():
            lines.append(f"{topic:32s} {n:8d} {self.recorded.get(topic, 0):9d} {self.dropped[topic]:8d} "
                         f"{self.transport_gaps.get(topic, 0):6d}")
        lines.append(f"duration {self.duration_s:.1f} s | recorder CPU {self.recorder_cpu_percent:.0f} % of one core | "
                     f"publisher CPU {self.publisher_cpu_percent:.0f} % | disk {self.disk_mb_per_s:.1f} MB/s "
                     f"({self.bag_mb:.0f} MB)")
        return "\n".join(lines)


def run_record_bench(duration: float = 60.0, width: int = 640, height: int = 480, image_rate: float = 30.0,
                     state_rate: float = CONTROL_RATE_HZ, command_rate: float = 0.0, output: str | None = None,
                     keep: bool = False) -> RecordBenchResult:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from dit4dit_ros.data.bag_reader import EpisodeBag
    from dit4dit_ros.nodes.recorder_node import STATUS_TOPIC, RecorderNode

    from dit4dit_ros.utils.dds_env import apply_isolation, claim_loopback_isolation
    from dit4dit_ros.utils.dds_transport import configure_ros_transport

    if "ROS_DOMAIN_ID" not in os.environ:  # from a plain shell: a private loopback domain, not the robot's
        apply_isolation(claim_loopback_isolation())
    configure_ros_transport()  # shared memory for the images; the publisher process inherits it
    out_root = Path(output) if output else Path(tempfile.mkdtemp(prefix="dit4dit_bench_record_"))
    overrides = [
        Parameter("output_dir", value=str(out_root)),
        Parameter("min_free_mb", value=0.0),
        Parameter("reserve_free_mb", value=0.0),
        Parameter("instruction", value="benchmark"),
    ]
    if command_rate <= 0:
        overrides.append(Parameter("command_topic", value=""))
    sent_path = out_root / "bench_sent.json"
    rclpy.init()
    node = RecorderNode(parameter_overrides=overrides)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)

    spinner = threading.Thread(target=spin, name="bench-spin", daemon=True)
    spinner.start()
    publisher = None
    try:
        ok, message = node._start("bench")
        if not ok:
            raise RuntimeError(message)
        cpu0, wall0 = os.times(), time.monotonic()
        publisher = subprocess.Popen(
            [sys.executable, "-m", "dit4dit_ros.nodes.synthetic_publisher", "--duration", str(duration),
             "--width", str(width), "--height", str(height), "--image-rate", str(image_rate),
             "--state-rate", str(state_rate), "--command-rate", str(command_rate), "--json-out", str(sent_path),
             "--wait-recorder", STATUS_TOPIC],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            _, err = publisher.communicate(timeout=duration + 90)
        except subprocess.TimeoutExpired:
            publisher.kill()
            raise RuntimeError("the publisher process did not finish in time") from None
        if publisher.returncode != 0:
            raise RuntimeError(f"publisher failed (rc {publisher.returncode}): {err[-2000:]}")
        sent_info = json.loads(sent_path.read_text())
        sent = sent_info["sent"]

        def drained() -> bool:
            status = node.recorder.status()
            received = status.get("received", {})
            done = all(received.get(t, 0) + status.get("dropped", {}).get(t, 0) >= n for t, n in sent.items())
            return done and status["queued_mb"] == 0

        try:
            wait_until(drained, timeout=10.0, poll=0.05, what="the recorder to receive and write every message")
        except TimeoutError:
            pass  # losses are what this benchmark reports
        result = node.recorder.stop()
        cpu1, wall1 = os.times(), time.monotonic()
    finally:
        stop.set()
        spinner.join(timeout=5)
        node.destroy_node()
        rclpy.try_shutdown()
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
    wall = wall1 - wall0
    recorder_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    bag = EpisodeBag(result.path)
    recorded = {t: bag.topics.get(t, ("", 0))[1] for t in sent}
    bag_bytes = sum(p.stat().st_size for p in result.path.iterdir() if p.is_file())
    bench = RecordBenchResult(
        duration_s=duration,
        sent=sent,
        recorded=recorded,
        transport_gaps={t: result.info.transport_gaps.get(t, 0) for t in sent},
        backpressure_drops={t: result.info.dropped_counts.get(t, 0) for t in sent},
        recorder_cpu_percent=100.0 * recorder_cpu / wall,
        publisher_cpu_percent=100.0 * sent_info["cpu_s"] / max(sent_info["wall_s"], 1e-9),
        disk_mb_per_s=bag_bytes / 1e6 / duration,
        bag_mb=bag_bytes / 1e6,
        episode_path=str(result.path),
        extra={"image_size": [height, width], "rates": [image_rate, state_rate, command_rate]},
    )
    if not keep and output is None:
        shutil.rmtree(out_root, ignore_errors=True)
    return bench
