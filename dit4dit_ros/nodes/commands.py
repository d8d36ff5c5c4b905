"""CLI benches of the nodes area: `dit4dit bench image-conversion | camera | g1-state`.

They print measured figures (no pass/fail): image <-> message conversion cost, the camera node's achieved
publish rate and latency from a video file, and the proprioception node's /joint_states rate and latency
from a 500 Hz LowState stream. The ROS benches run on loopback with this process's isolation (set
ROS_DOMAIN_ID / DIT4DIT_UNITREE_DOMAIN, or they default to a pid-derived loopback isolation).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from dit4dit_ros.data.topics import IMAGE_TOPIC, JOINT_STATES_TOPIC


def _ensure_loopback_isolation() -> None:
    """Default to a private loopback isolation so that a bench never talks to a real robot or network."""
    from dit4dit_ros.utils.dds_env import UNITREE_DOMAIN_ENV, apply_isolation, claim_loopback_isolation

    if "ROS_DOMAIN_ID" not in os.environ or UNITREE_DOMAIN_ENV not in os.environ:
        apply_isolation(claim_loopback_isolation())  # the transport itself is the CLI's (utils/dds_transport.py)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    return w, h


def _percentiles(values, qs=(50, 99)) -> str:
    import numpy as np

    if len(values) == 0:
        return "n/a"
    return "/".join(f"{np.percentile(values, q):.2f}" for q in qs)


# ---------------------------------------------------------------------------------- image conversion
def _conversion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=_size, default=(640, 480), help="WxH (default 640x480)")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--encodings", default="rgb8,bgr8,mono8,mono16,32FC1")


def _conversion(args: argparse.Namespace) -> int:
    import numpy as np

    from dit4dit_ros.nodes.image_conversion import encoding_spec, image_to_msg, msg_to_image, to_rgb8

    w, h = args.size
    n = max(1, args.iterations)
    print(f"image conversion at {w}x{h}, {n} iterations (ms per frame, mean)")
    print(f"{'encoding':10s} {'to_msg':>8s} {'from_msg':>9s} {'from+copy':>10s} {'to_rgb8':>8s}")
    for enc in args.encodings.split(","):
        spec = encoding_spec(enc)
        shape = (h, w) if spec.channels == 1 else (h, w, spec.channels)
        image = (np.random.default_rng(0).random(shape) * 200).astype(spec.dtype)
        msg = image_to_msg(image, enc)
        timings = []
        for fn in (lambda: image_to_msg(image, enc), lambda: msg_to_image(msg),
                   lambda: msg_to_image(msg, copy=True),
                   (lambda: to_rgb8(msg)) if enc in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8") else None):
            if fn is None:
                timings.append(float("nan"))
                continue
            fn()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            timings.append((time.perf_counter() - start) / n * 1e3)
        print(f"{enc:10s} {timings[0]:8.3f} {timings[1]:9.3f} {timings[2]:10.3f} {timings[3]:8.3f}")
    return 0


# ------------------------------------------------------------------------------------------ camera
def _camera_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="", help="video file or device (default: a generated 640x480 clip)")
    p.add_argument("--size", type=_size, default=(640, 480), help="published WxH")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=5.0)


def _write_clip(path: str, size: tuple[int, int], frames: int = 60) -> None:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def _stamp(msg) -> float:
    from dit4dit_ros.utils.stamps import stamp_to_seconds

    return stamp_to_seconds(msg.header.stamp)


def _camera(args: argparse.Namespace) -> int:
    _ensure_loopback_isolation()
    import numpy as np
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from dit4dit_ros.nodes.camera_node import CameraNode
    from dit4dit_ros.nodes.qos import SENSOR_DATA
    from dit4dit_ros.nodes.probe import RosHarness
    from dit4dit_ros.utils.waiting import wait_until

    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or os.path.join(tmp, "clip.avi")
        if not args.source:
            _write_clip(source, args.size)
        with RosHarness() as harness:
            images = harness.collect(Image, IMAGE_TOPIC, SENSOR_DATA)
            node = harness.make_node(CameraNode, parameter_overrides=[
                Parameter("source", value=source), Parameter("fps", value=float(args.fps)),
                Parameter("width", value=args.size[0]), Parameter("height", value=args.size[1])])
            wait_until(lambda: len(images) >= 3, 20.0, what="first camera frames")
            images.clear()
            start = time.monotonic()
            wait_until(lambda: time.monotonic() - start >= args.seconds, args.seconds + 1.0, what="bench duration")
            got = images.snapshot()
            elapsed = time.monotonic() - start
            ros_now = node.get_clock().now().nanoseconds * 1e-9
            mono_now = time.monotonic()
            latency = [((t - mono_now) + ros_now - _stamp(m)) * 1e3 for t, m in got]  # receive - capture
            stamps = np.array([_stamp(m) for _, m in got])
            stats = node.loop.stats
    rate = len(got) / elapsed
    stamp_rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    print(f"camera bench: {args.size[0]}x{args.size[1]} rgb8 target {args.fps:.1f} Hz, {elapsed:.1f} s")
    print(f"  received {len(got)} frames: {rate:.2f} Hz (from capture stamps {stamp_rate:.2f} Hz)")
    print(f"  capture -> subscriber latency p50/p99 [ms]: {_percentiles(latency)}")
    print(f"  capture loop: frames {stats.frames}, read failures {stats.read_failures}")
    return 0


# ---------------------------------------------------------------------------------------- g1 state
def _g1_state_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=100.0, help="publish_rate of the node [Hz]")
    p.add_argument("--seconds", type=float, default=5.0)


def _g1_state(args: argparse.Namespace) -> int:
    _ensure_loopback_isolation()
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState

    from dit4dit_ros.nodes.g1_state_node import G1StateNode
    from dit4dit_ros.nodes.qos import STATE
    from dit4dit_ros.g1.fake_lowstate_robot import FakeLowStateRobot
    from dit4dit_ros.nodes.probe import RosHarness
    from dit4dit_ros.utils.waiting import wait_until

    robot = FakeLowStateRobot(max_seconds=args.seconds + 60.0)
    try:
        with RosHarness() as harness:
            joints = harness.collect(JointState, JOINT_STATES_TOPIC, STATE)
            node = harness.make_node(G1StateNode, parameter_overrides=[
                Parameter("publish_rate", value=float(args.rate))])
            robot.resume()
            wait_until(lambda: len(joints) >= 10, 20.0, what="first joint_states")
            joints.clear()
            sent0, received0 = robot.sent_valid, node.received
            start = time.monotonic()
            wait_until(lambda: time.monotonic() - start >= args.seconds, args.seconds + 1.0, what="bench duration")
            got = joints.snapshot()
            elapsed = time.monotonic() - start
            ros_now = node.get_clock().now().nanoseconds * 1e-9
            mono_now = time.monotonic()
            latency = [((t - mono_now) + ros_now - _stamp(m)) * 1e3 for t, m in got]
            sent, received = robot.sent_valid - sent0, node.received - received0
    finally:
        robot.close()
    print(f"g1_state bench: LowState sent at {sent / elapsed:.1f} Hz, node received {received / elapsed:.1f} Hz")
    print(f"  /joint_states: {len(got)} in {elapsed:.1f} s = {len(got) / elapsed:.2f} Hz (configured {args.rate:.1f})")
    print(f"  node stamp -> subscriber latency p50/p99 [ms]: {_percentiles(latency)}")
    return 0


def register(registry) -> None:
    registry.add_bench("image-conversion", "numpy <-> sensor_msgs/Image conversion cost per frame",
                       _conversion_arguments, _conversion)
    registry.add_bench("camera", "camera node publish rate and latency from a video file (loopback)",
                       _camera_arguments, _camera)
    registry.add_bench("g1-state", "g1_state node /joint_states rate and latency from 500 Hz LowState (loopback)",
                       _g1_state_arguments, _g1_state)
