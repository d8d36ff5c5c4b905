"""A checkpoint whose action range exceeds the joint limits (the issue's +-100 rad normalization.json) is refused
when loaded for the robot, or, by configuration, clamped to the joint limits with an ERROR diagnostic."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from dit4dit_ros.g1.joints import JOINT_NAMES, limits_array
from dit4dit_ros.policy.action_limits import ActionLimitGuard, action_range_problems

INSTRUCTION = "reach the red cube"


def test_range_problems_name_each_joint_outside_its_limits():
    names = ("right_elbow_joint", "right_wrist_roll_joint")
    lo, hi = limits_array("position_min", names), limits_array("position_max", names)
    assert action_range_problems(names, lo, hi, 0.1) == []
    problems = action_range_problems(names, np.array([-100.0, lo[1]]), np.array([100.0, hi[1] + 0.05]), 0.1)
    assert len(problems) == 1 and problems[0].startswith("right_elbow_joint: action range [-100, 100] rad")
    with pytest.raises(ValueError, match=r"norm.json: .* 1 joint\(s\) .*right_elbow_joint.*action_range_check:=clamp"):
        ActionLimitGuard(names, np.array([-100.0, lo[1]]), np.array([100.0, hi[1]]), source="norm.json")
    guard = ActionLimitGuard(names, np.array([-100.0, lo[1]]), np.array([100.0, hi[1]]), mode="clamp")
    out = guard.apply(np.array([[50.0, 0.0], [0.0, 0.0]]))
    assert out[0, 0] == hi[0] and guard.clamped_points == 1 and out[1, 0] == 0.0


def test_the_official_layouts_grippers_are_checked_against_0_to_1():
    """A pick_place checkpoint (arms + left_gripper, right_gripper) starts: its gripper range [0, 1] is the
    grippers' own range (before: 'unknown G1 joint name(s) ['left_gripper', 'right_gripper']' and no policy)."""
    names = ("right_elbow_joint", "left_gripper", "right_gripper")
    lo, hi = limits_array("position_min", names[:1]), limits_array("position_max", names[:1])
    guard = ActionLimitGuard(names, np.array([lo[0], 0.0, 0.0]), np.array([hi[0], 1.0, 1.0]))
    assert not guard.clamping
    problems = action_range_problems(names, np.array([lo[0], 0.0, 0.0]), np.array([hi[0], 1.0, 30.0]), 0.1)
    assert len(problems) == 1 and problems[0].startswith("right_gripper: action range [0, 30]")
    clamp = ActionLimitGuard(names, np.array([lo[0], 0.0, 0.0]), np.array([hi[0], 1.0, 30.0]), mode="clamp")
    assert clamp.apply(np.array([[0.0, 0.5, 7.0]]))[0, 2] == 1.0


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory):
    from dit4dit_ros.model.checkpoint import save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import FeatureStats, NormalizationStats
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    torch.manual_seed(0)
    cfg = load_preset("tiny")
    stats = NormalizationStats.for_layout(cfg.layout)
    n = cfg.layout.num_action_joints
    stats.action = FeatureStats(np.full(n, -100.0), np.full(n, 100.0), np.zeros(n), np.full(n, 50.0))
    cache = PromptEmbeddingCache("test-random", {INSTRUCTION: torch.randn(6, cfg.video.prompt_embed_dim)})
    root = tmp_path_factory.mktemp("wide_ckpt")
    save_checkpoint(root, DiT4DiT(cfg).eval(), stats, cache)
    return root, cfg


@pytest.mark.ros
def test_policy_node_refuses_or_clamps_a_checkpoint_wider_than_the_joints(wide_checkpoint):
    from dit4dit_ros.nodes.image_conversion import image_to_msg
    from dit4dit_ros.nodes.policy_node import PolicyNode
    from dit4dit_ros.nodes.qos import COMMANDS, SENSOR_DATA, STATE
    from dit4dit_ros.nodes.probe import RosHarness
    from dit4dit_ros.utils.waiting import wait_until

    root, cfg = wide_checkpoint
    with RosHarness() as ros:
        with pytest.raises(ValueError, match=r"normalization.json: the action normalisation range exceeds the joint "
                                             r"limits of 14 joint\(s\)"):
            ros.make_node(PolicyNode, parameter_overrides=[Parameter("checkpoint", value=str(root))])
        chunks = ros.collect(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        diags = ros.collect(DiagnosticArray, "/diagnostics", 10)
        ros.make_node(PolicyNode, parameter_overrides=[
            Parameter("checkpoint", value=str(root)), Parameter("rate_hz", value=20.0),
            Parameter("action_range_check", value="clamp"), Parameter("instruction", value=INSTRUCTION)])
        image_pub = ros.probe.create_publisher(Image, "/camera/ego/image_raw", SENSOR_DATA)
        js_pub = ros.probe.create_publisher(JointState, "/joint_states", STATE)
        stop = threading.Event()

        def feed() -> None:
            rng = np.random.default_rng(0)
            for _ in range(2000):  # bounded: ~40 s
                if stop.wait(0.02):
                    return
                now = ros.probe.get_clock().now().to_msg()
                js = JointState(name=list(JOINT_NAMES), position=[0.0] * len(JOINT_NAMES))
                js.header.stamp = now
                js_pub.publish(js)
                image_pub.publish(image_to_msg(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "rgb8", stamp=now))

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        try:
            wait_until(lambda: len(chunks) >= 3, 60, what="clamped chunks")
            names = cfg.layout.action_joints
            lo, hi = limits_array("position_min", names), limits_array("position_max", names)
            for _, msg in chunks.snapshot():
                q = np.array([p.positions for p in msg.points])
                assert np.all(q >= lo) and np.all(q <= hi)
            wait_until(lambda: any("chunks clamped" in s.message and s.level == DiagnosticStatus.ERROR
                                   for _, a in diags.snapshot() for s in a.status), 10, what="the clamping alarm")
        finally:
            stop.set()
            thread.join(5)
