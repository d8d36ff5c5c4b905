"""Policy node over real rclpy/FastDDS on loopback, with the real torch engine on a tiny checkpoint."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.model.checkpoint import save_checkpoint
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.normalization import NormalizationStats
from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache
from dit4dit_ros.nodes.image_conversion import image_to_msg
from dit4dit_ros.nodes.policy_node import PolicyNode
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA, STATE
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = pytest.mark.ros
INSTRUCTION = "reach the red cube"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_preset("tiny")
    model = DiT4DiT(cfg).eval()
    cache = PromptEmbeddingCache("test-random", {INSTRUCTION: torch.randn(6, cfg.video.prompt_embed_dim)})
    root = tmp_path_factory.mktemp("policy_ckpt")
    save_checkpoint(root, model, NormalizationStats.for_layout(cfg.layout), cache)
    return root, cfg


class Feeder:
    """Publishes camera frames and joint states stamped with the probe's clock, from a bounded thread."""

    def __init__(self, harness: RosHarness, image_hw=(48, 64)) -> None:
        self.node = harness.probe
        self.image_pub = self.node.create_publisher(Image, "/camera/ego/image_raw", SENSOR_DATA)
        self.js_pub = self.node.create_publisher(JointState, "/joint_states", STATE)
        self.image_hw = image_hw
        self.frame_stamps: list[float] = []
        self.stop = threading.Event()
        self.images_on = threading.Event()
        self.images_on.set()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        for k in range(2000):  # bounded: at most ~40 s
            if self.stop.wait(0.02):
                return
            now = self.node.get_clock().now()
            js = JointState(name=list(JOINT_NAMES), position=list(0.01 * np.arange(29)))
            js.header.stamp = now.to_msg()
            self.js_pub.publish(js)
            if k % 2 == 0 and self.images_on.is_set():
                img = rng.integers(0, 255, (*self.image_hw, 3), dtype=np.uint8)
                self.image_pub.publish(image_to_msg(img, "rgb8", stamp=now.to_msg(), frame_id="ego"))
                self.frame_stamps.append(now.nanoseconds * 1e-9)


def test_policy_publishes_stamped_chunks_and_reports_stale_inputs(checkpoint):
    root, cfg = checkpoint
    with RosHarness() as ros:
        chunks = ros.collect(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        diags = ros.collect(DiagnosticArray, "/diagnostics", 10)
        node = ros.make_node(PolicyNode, parameter_overrides=[
            Parameter("checkpoint", value=str(root)), Parameter("rate_hz", value=20.0),
            Parameter("max_image_age", value=0.3)])
        feeder = Feeder(ros)
        wait_until(lambda: ros.probe.count_subscribers("/joint_states") > 0, 15, what="policy subscriptions")
        feeder.thread.start()
        try:
            # No instruction yet: no chunk, and the diagnostic says why.
            wait_until(lambda: any(s.message.startswith("no instruction") for _, a in diags.snapshot() for s in a.status),
                       15, what="a 'no instruction' diagnostic")
            assert len(chunks) == 0
            # Unknown instruction: rejected, still no chunk.
            pub = ros.probe.create_publisher(String, "/dit4dit/instruction", LATCHED)
            pub.publish(String(data="dance"))
            wait_until(lambda: node.runner.stats.skipped > 3, 10, what="more skipped cycles")
            assert node.runner.instruction is None and len(chunks) == 0
            pub.publish(String(data=INSTRUCTION))
            wait_until(lambda: len(chunks) >= 5, 60, what="5 action chunks")
            msg = chunks.snapshot()[-1][1]
            assert list(msg.joint_names) == list(cfg.layout.action_joints)
            assert len(msg.points) == cfg.action.horizon
            dts = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
            np.testing.assert_allclose(np.diff(dts), node.engine.control_period, atol=1e-6)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            # The chunk carries the capture stamp of a frame that was actually published.
            assert min(abs(stamp - t) for t in feeder.frame_stamps) < 1e-6
            assert np.all(np.isfinite([p.positions for p in msg.points]))
            # Camera goes silent: chunks stop, a stale-camera diagnostic appears.
            feeder.images_on.clear()
            wait_until(lambda: "camera frame is stale" in node.runner.stats.last_skip_reason, 10, what="stale camera")
            n = len(chunks)
            wait_until(lambda: any("camera frame is stale" in s.message and s.level == DiagnosticStatus.WARN
                                   for _, a in diags.snapshot() for s in a.status), 10, what="stale diagnostic")
            assert len(chunks) <= n + 1  # at most the one in flight when the camera stopped
        finally:
            feeder.stop.set()
            feeder.thread.join(5)


@pytest.mark.parametrize("reliable", [True, False])
def test_the_policy_reads_joint_states_reliable_unless_told_otherwise(checkpoint, reliable):
    """A lock-stepped simulation pauses at each frame until the policy answers, and the policy needs the joint state
    of the frame's time: read best effort, a burst of them was lost on a busy host and the simulation stood still
    until its lock-step timeout (30 s, docs/realtime.md). RELIABLE lets g1_state's writer resend them."""
    from rclpy.qos import ReliabilityPolicy

    root, _ = checkpoint
    overrides = [Parameter("checkpoint", value=str(root))]
    if not reliable:
        overrides.append(Parameter("joint_states_reliable", value=False))
    with RosHarness() as ros:
        ros.make_node(PolicyNode, parameter_overrides=overrides)

        def policy_endpoints():
            return [e for e in ros.probe.get_subscriptions_info_by_topic("/joint_states") if e.node_name == "policy"]

        wait_until(lambda: len(policy_endpoints()) == 1, 15, what="the policy's /joint_states subscription")
        expected = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        assert policy_endpoints()[0].qos_profile.reliability == expected


def test_policy_runs_the_onnxruntime_engine_selected_in_its_yaml(checkpoint, tmp_path):
    """`engine: onnxruntime` (and tensorrt) in the deployment YAML is valid; the node runs the exported graphs."""
    import yaml

    from dit4dit_ros.config import ParameterFileError, check_parameter_file, load_parameter_file
    from dit4dit_ros.engine.onnx_export import export_engine
    from dit4dit_ros.engine.ort_engine import OrtEngine
    from dit4dit_ros.nodes.policy_node import NODE_NAME, PARAMETERS

    root, cfg = checkpoint
    export_engine(root, "onnxruntime", "fp32")
    params = {"checkpoint": str(root), "engine": "onnxruntime", "precision": "fp32", "rate_hz": 20.0,
              "instruction": INSTRUCTION, "num_threads": 1}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({NODE_NAME: {"ros__parameters": params}}))
    check_parameter_file(path, {NODE_NAME: PARAMETERS})
    for engine in ("tensorrt", "jax"):
        other = tmp_path / f"{engine}.yaml"
        other.write_text(yaml.safe_dump({NODE_NAME: {"ros__parameters": {**params, "engine": engine}}}))
        if engine == "tensorrt":
            check_parameter_file(other, {NODE_NAME: PARAMETERS})
        else:
            with pytest.raises(ParameterFileError, match="engine"):
                check_parameter_file(other, {NODE_NAME: PARAMETERS})
    values = load_parameter_file(path)[NODE_NAME]
    with RosHarness() as ros:
        chunks = ros.collect(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        node = ros.make_node(PolicyNode, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        assert isinstance(node.engine, OrtEngine)
        feeder = Feeder(ros)
        wait_until(lambda: ros.probe.count_subscribers("/joint_states") > 0, 15, what="policy subscriptions")
        feeder.thread.start()
        try:
            wait_until(lambda: len(chunks) >= 2, 60, what="2 action chunks from the onnxruntime engine")
            msg = chunks.snapshot()[-1][1]
            assert list(msg.joint_names) == list(cfg.layout.action_joints) and len(msg.points) == cfg.action.horizon
            assert np.all(np.isfinite([p.positions for p in msg.points]))
        finally:
            feeder.stop.set()
            feeder.thread.join(5)
