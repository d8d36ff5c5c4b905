"""Synthetic sensor publisher for recorder benchmarks and tests: camera + joint states (+ commands) at fixed rates.

Frames encode their frame number and joint positions follow a known ramp (dit4dit_ros.data.synthetic), and
every header.stamp is the publisher's clock at publication, so a recording can be checked for loss and
alignment. Publishing runs on a deadline schedule in its own thread (not an rclpy timer): at 500 Hz a late
wake-up publishes the messages that are due instead of silently lowering the rate.

`python -m dit4dit_ros.nodes.synthetic_publisher --duration 5 --json-out sent.json` waits (bounded) until a
subscriber matches every topic, publishes for `duration` seconds, writes {"sent": {topic: n}, ...} and exits.
With `--wait-recorder` it also waits until the recorder's status says its readers matched this publisher on
every topic: the publisher side sees a match before the reader side accepts samples, and best-effort frames
sent in between are lost before any recorder could count them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState

from dit4dit_ros.data.synthetic import COMMAND_OFFSET, encode_frame_number
from dit4dit_ros.data.topics import COMMAND_TOPIC, IMAGE_TOPIC, JOINT_STATES_TOPIC
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes.qos import LATCHED, command_qos, sensor_data_qos, state_qos
from dit4dit_ros.nodes.status_msgs import recorder_status
from dit4dit_ros.utils.waiting import wait_until
from dit4dit_ros.g1.timing import CONTROL_RATE_HZ

MAX_DISTINCT_FRAMES = 1024  # the frame-number code covers 0..1023; numbers wrap after that


@dataclass(frozen=True)
class PublisherConfig:
    duration_s: float = 5.0
    width: int = 640
    height: int = 480
    image_rate: float = 30.0
    state_rate: float = CONTROL_RATE_HZ
    command_rate: float = 0.0  # 0 = no command stream
    ramp_slope: float = 1.0  # rad/s of every joint
    image_depth: int = 30
    state_depth: int = 500

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or self.image_rate <= 0 or self.state_rate <= 0 or self.command_rate < 0:
            raise ValueError("duration and image/state rates must be > 0, command_rate >= 0")
        if self.width < 8 or self.height < 8:
            raise ValueError("image must be at least 8x8")


class SyntheticPublisher(Node):
    def __init__(self, config: PublisherConfig) -> None:
        super().__init__("synthetic_publisher")
        self.config = config
        self.image_pub = self.create_publisher(Image, IMAGE_TOPIC, sensor_data_qos(config.image_depth))
        self.state_pub = self.create_publisher(JointState, JOINT_STATES_TOPIC, state_qos(config.state_depth))
        self.command_pub = (self.create_publisher(JointState, COMMAND_TOPIC, command_qos(config.state_depth))
                            if config.command_rate > 0 else None)
        self.sent = {IMAGE_TOPIC: 0, JOINT_STATES_TOPIC: 0}
        if self.command_pub is not None:
            self.sent[COMMAND_TOPIC] = 0
        self.base_ns = self.get_clock().now().nanoseconds
        # distinct frames are cached (encoding a 640x480 frame costs more than publishing it)
        self._frames: dict[int, bytes] = {}
        self.stamps: dict[str, list[int]] = {IMAGE_TOPIC: []}

    def matched(self) -> bool:
        pubs = [self.image_pub, self.state_pub] + ([self.command_pub] if self.command_pub else [])
        return all(p.get_subscription_count() > 0 for p in pubs)

    def watch_recorder(self, status_topic: str) -> None:
        self._recorder_status: dict = {}

        def on_status(msg: DiagnosticStatus) -> None:
            self._recorder_status = recorder_status(msg)

        self.create_subscription(DiagnosticStatus, status_topic, on_status, LATCHED)

    def recorder_matched(self) -> bool:
        """The recorder's readers have matched a publisher on every topic this node publishes."""
        matched = self._recorder_status.get("matched_publishers", {})
        return isinstance(matched, dict) and all(int(matched.get(topic, 0)) >= 1 for topic in self.sent)

    def _frame_bytes(self, k: int) -> bytes:
        code = k % MAX_DISTINCT_FRAMES
        data = self._frames.get(code)
        if data is None:
            data = self._frames[code] = encode_frame_number(code, self.config.height, self.config.width).tobytes()
        return data

    def _stamp(self, msg, now_ns: int) -> None:
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)

    def publish_image(self, k: int) -> None:
        c = self.config
        msg = Image(height=c.height, width=c.width, encoding="rgb8", step=3 * c.width)
        msg.header.frame_id = "ego_camera"
        msg.data = self._frame_bytes(k)
        now = self.get_clock().now().nanoseconds
        self._stamp(msg, now)
        self.image_pub.publish(msg)
        self.stamps[IMAGE_TOPIC].append(now)
        self.sent[IMAGE_TOPIC] += 1

    def publish_joints(self, pub, topic: str, offset: float) -> None:
        now = self.get_clock().now().nanoseconds
        t = (now - self.base_ns) * 1e-9
        msg = JointState(name=list(JOINT_NAMES))
        msg.position = (0.01 * np.arange(len(JOINT_NAMES)) + self.config.ramp_slope * t + offset).tolist()
        self._stamp(msg, now)
        pub.publish(msg)
        self.sent[topic] += 1

    def run(self, stop: threading.Event) -> None:
        """Publish every stream on its deadline schedule for duration_s (or until `stop`)."""
        c = self.config
        streams = [
            (1.0 / c.image_rate, lambda k: self.publish_image(k)),
            (1.0 / c.state_rate, lambda k: self.publish_joints(self.state_pub, JOINT_STATES_TOPIC, 0.0)),
        ]
        if self.command_pub is not None:
            streams.append((1.0 / c.command_rate,
                            lambda k: self.publish_joints(self.command_pub, COMMAND_TOPIC, COMMAND_OFFSET)))
        start = time.monotonic()
        counts = [0] * len(streams)
        end = start + c.duration_s
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            next_due = end
            for i, (period, publish) in enumerate(streams):
                due = start + counts[i] * period
                if due <= now:
                    publish(counts[i])
                    counts[i] += 1
                    due = start + counts[i] * period
                next_due = min(next_due, due)
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--image-rate", type=float, default=30.0)
    parser.add_argument("--state-rate", type=float, default=CONTROL_RATE_HZ)
    parser.add_argument("--command-rate", type=float, default=0.0)
    parser.add_argument("--ramp-slope", type=float, default=1.0)
    parser.add_argument("--match-timeout", type=float, default=30.0)
    parser.add_argument("--json-out", default="", help="write sent counts and image stamps here")
    parser.add_argument("--wait-recorder", default="", metavar="STATUS_TOPIC",
                        help="also wait until this recorder status topic reports every topic matched")
    args = parser.parse_args(argv)
    config = PublisherConfig(args.duration, args.width, args.height, args.image_rate, args.state_rate,
                             args.command_rate, args.ramp_slope)
    rclpy.init()
    node = SyntheticPublisher(config)
    try:
        wait_until(node.matched, args.match_timeout, poll=0.05, what="a recorder subscribed to every topic")
        if args.wait_recorder:
            node.watch_recorder(args.wait_recorder)

            def recorder_matched() -> bool:
                rclpy.spin_once(node, timeout_sec=0.05)
                return node.recorder_matched()

            wait_until(recorder_matched, args.match_timeout, poll=0.01,
                       what=f"{args.wait_recorder} to report every topic matched")
        cpu0, wall0 = time.process_time(), time.monotonic()
        node.run(threading.Event())
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        time.sleep(0.5)  # let reliable streams deliver their last samples before the participant goes away
        result = {"sent": node.sent, "base_ns": node.base_ns, "ramp_slope": config.ramp_slope,
                  "image_stamps": node.stamps[IMAGE_TOPIC], "cpu_s": cpu, "wall_s": wall, "pid": os.getpid()}
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(result, f)
        print(json.dumps({k: v for k, v in result.items() if k != "image_stamps"}))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
