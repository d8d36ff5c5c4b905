"""`dit4dit sim-robot` with its ROS node as a separate process: camera, /clock, task status, reset, lock-step."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from dit4dit_ros.nodes.image_conversion import compressed_msg_to_image, msg_to_image  # noqa: E402
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA  # noqa: E402
from dit4dit_ros.nodes.status_msgs import task_status_from_msg  # noqa: E402
from dit4dit_ros.sim.process import SimRobotProcess  # noqa: E402
from dit4dit_ros.utils.waiting import WaitTimeout, wait_until  # noqa: E402

pytestmark = pytest.mark.slow


class Probe:
    """A test-side ROS node on a private context that records the sim node's outputs."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("sim_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.images: list[Image] = []
        self.infos: list[CameraInfo] = []
        self.clocks: list[float] = []
        self.tasks: list[dict] = []
        self.compressed: list[CompressedImage] = []
        self.tf: list[TFMessage] = []
        n = self.node
        n.create_subscription(CompressedImage, "/camera/ego/image_raw/compressed", self.compressed.append, SENSOR_DATA)
        n.create_subscription(TFMessage, "/tf", self.tf.append, SENSOR_DATA)
        n.create_subscription(Image, "/camera/ego/image_raw", self.images.append, SENSOR_DATA)
        n.create_subscription(CameraInfo, "/camera/ego/camera_info", self.infos.append, SENSOR_DATA)
        n.create_subscription(Clock, "/clock", lambda m: self.clocks.append(m.clock.sec + m.clock.nanosec * 1e-9),
                              QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
        n.create_subscription(DiagnosticStatus, "/dit4dit/sim/task", lambda m: self.tasks.append(task_dict(m)), LATCHED)
        self.ack = n.create_publisher(Header, "/dit4dit/sim/frame_ack", COMMANDS)
        self.chunks = n.create_publisher(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        self.reset = n.create_client(Trigger, "/dit4dit/sim/reset")

    def spin_until(self, condition, timeout: float, what: str):
        def poll():
            self.executor.spin_once(timeout_sec=0.02)
            return condition()

        return wait_until(poll, timeout=timeout, poll=0.001, what=what)

    def publish_until(self, publish, condition, timeout: float, what: str):
        """Publish (again every 0.2 s: the subscription may not be matched yet) until `condition` holds."""
        state = {"next": 0.0}

        def poll():
            now = time.monotonic()
            if now >= state["next"]:
                publish()
                state["next"] = now + 0.2
            self.executor.spin_once(timeout_sec=0.02)
            return condition()

        return wait_until(poll, timeout=timeout, poll=0.001, what=what)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def task_dict(msg: DiagnosticStatus) -> dict:
    """The typed task status as the dict the simulator used to publish as JSON."""
    sample = task_status_from_msg(msg)
    s = sample.status
    return {"task": s.task, "seed": s.seed, "instruction": s.instruction, "episode_time": s.episode_time,
            "success": s.success, "robot": {"mode": sample.robot_mode, "counters": sample.robot_counters}}


@pytest.fixture
def probe():
    p = Probe()
    yield p
    p.close()


def _start(args: list[str]) -> SimRobotProcess:
    return SimRobotProcess(["--camera-width", "64", "--camera-height", "48", "--duration", "60", *args]).start()


def test_node_publishes_camera_clock_task_and_resets(probe: Probe):
    sim = _start(["--camera-hz", "10", "--seed", "7"])
    try:
        probe.spin_until(lambda: probe.images and probe.infos and probe.tasks or not sim.alive, 40.0, "first image")
        assert sim.alive, sim.log()
        img = probe.images[-1]
        assert (img.encoding, img.width, img.height) == ("rgb8", 64, 48)
        pixels = msg_to_image(img)
        assert pixels.shape == (48, 64, 3) and pixels.std() > 10
        info = probe.infos[-1]
        assert (info.width, info.height) == (64, 48) and info.k[0] > 0 and info.header.frame_id == img.header.frame_id
        # the JPEG stream of the same frames (image_transport's compressed format)
        probe.spin_until(lambda: probe.compressed, 10.0, "a compressed ego image")
        jpeg = probe.compressed[-1]
        assert jpeg.format == "rgb8; jpeg compressed bgr8" and jpeg.header.frame_id == img.header.frame_id
        decoded = compressed_msg_to_image(jpeg)
        assert decoded.shape == (48, 64, 3) and 0 < len(jpeg.data) < pixels.nbytes
        match = [m for m in probe.images if m.header.stamp == jpeg.header.stamp]
        if match:  # the same frame, raw: JPEG at quality 80 stays close
            assert np.abs(decoded.astype(int) - msg_to_image(match[-1]).astype(int)).mean() < 12
        # the objects' poses on /tf, in the world frame
        probe.spin_until(lambda: probe.tf, 10.0, "object frames on /tf")
        frames = {t.child_frame_id: t for m in probe.tf for t in m.transforms}
        assert {"cube", "target"} <= set(frames) and frames["cube"].header.frame_id == "world"
        assert 0.8 < frames["cube"].transform.translation.z < 0.9  # resting on the table (top at 0.80 m)
        first = probe.tasks[0]
        assert first["task"] == "reach" and first["seed"] == 7 and first["instruction"]
        assert first["robot"]["mode"] == "balance" and first["robot"]["counters"]["bad_crc"] == 0
        t0 = probe.clocks[-1]
        probe.spin_until(lambda: probe.clocks[-1] > t0 + 0.2, 10.0, "/clock advancing")
        stamp = img.header.stamp.sec + img.header.stamp.nanosec * 1e-9
        assert 0 < stamp <= probe.clocks[-1]  # images carry simulation time

        assert probe.reset.wait_for_service(timeout_sec=10.0)
        future = probe.reset.call_async(Trigger.Request())
        probe.spin_until(future.done, 15.0, "reset response")
        response = future.result()
        assert response.success, response.message
        assert "seed 8 " in response.message  # the k-th reset uses seed + k (a human-readable status line)
        probe.spin_until(lambda: probe.tasks[-1]["seed"] == 8, 10.0, "task status after reset")
        assert probe.tasks[-1]["episode_time"] < 0.1
        probe.spin_until(lambda: probe.tasks[-1]["seed"] == 8, 10.0, "task status after reset")
    finally:
        code = sim.stop()
    assert code == 0, sim.log()


def test_lockstep_frames_wait_for_acknowledgement(probe: Probe):
    sim = _start(["--lockstep", "--lockstep-timeout", "0", "--camera-hz", "20"])
    try:
        probe.spin_until(lambda: probe.images or not sim.alive, 40.0, "first lock-step image")
        assert sim.alive, sim.log()
        # Without an acknowledgement time stands still: no newer frame (the same one may be re-sent), no new clock.
        def stamp(m) -> float:
            return m.header.stamp.sec + m.header.stamp.nanosec * 1e-9

        t_first, last_clock = stamp(probe.images[-1]), probe.clocks[-1] if probe.clocks else 0.0
        with pytest.raises(WaitTimeout):
            probe.spin_until(lambda: stamp(probe.images[-1]) > t_first, 1.5, "an unacknowledged frame")
        assert (probe.clocks[-1] if probe.clocks else 0.0) == pytest.approx(last_clock)
        # Acknowledge the frame: exactly the next one follows, 1/20 s of simulation later.
        last = probe.images[-1]
        ack = Header(stamp=last.header.stamp, frame_id=last.header.frame_id)
        probe.publish_until(lambda: probe.ack.publish(ack), lambda: stamp(probe.images[-1]) > t_first, 20.0,
                            "the next frame after the acknowledgement")
        t_second = stamp(probe.images[-1])
        assert np.isclose(t_second - t_first, 0.05, atol=1e-6)
        # The policy's answer acknowledges too: an action chunk stamped with the frame's time.
        chunk = JointTrajectory()
        chunk.header.stamp = probe.images[-1].header.stamp
        probe.publish_until(lambda: probe.chunks.publish(chunk), lambda: stamp(probe.images[-1]) > t_second, 20.0,
                            "the next frame after an action chunk")
    finally:
        code = sim.stop()
    assert code == 0, sim.log()
