"""Observation assembly: pairing frames with joint states, staleness and history checks."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.policy.observation import ObservationBuffer, ObservationConfig, ObservationUnavailable

JOINTS = ("a", "b")


def _frame(v: int) -> np.ndarray:
    return np.full((4, 4, 3), v, dtype=np.uint8)


def test_pairs_newest_frame_with_nearest_state():
    buf = ObservationBuffer(ObservationConfig(max_image_age=1.0, max_state_age=1.0), JOINTS)
    for k in range(10):
        buf.add_joint_state(0.01 * k, ("b", "a", "c"), np.array([k, -k, 99.0]))
    buf.add_frame(0.031, _frame(7))
    obs = buf.latest(now=0.1)
    assert obs.stamp == 0.031
    assert obs.state_stamp == pytest.approx(0.03)
    np.testing.assert_array_equal(obs.joint_positions, [-3.0, 3.0])  # reordered to the buffer's joints
    assert obs.frames[0][0, 0, 0] == 7


def test_stale_inputs_are_reported_by_name():
    buf = ObservationBuffer(ObservationConfig(max_image_age=0.2, max_state_age=0.05), JOINTS)
    with pytest.raises(ObservationUnavailable, match="no camera frame"):
        buf.latest(0.0)
    buf.add_frame(1.0, _frame(1))
    with pytest.raises(ObservationUnavailable, match="no joint state"):
        buf.latest(1.0)
    buf.add_joint_state(1.0, JOINTS, np.zeros(2))
    assert buf.latest(1.01).stamp == 1.0
    with pytest.raises(ObservationUnavailable, match="joint state is stale"):
        buf.latest(1.1)
    buf.add_joint_state(1.5, JOINTS, np.zeros(2))
    with pytest.raises(ObservationUnavailable, match="camera frame is stale"):
        buf.latest(1.5)


def test_frame_history_and_stride():
    cfg = ObservationConfig(num_frames=3, frame_stride=2, max_image_age=10, max_state_age=10, max_state_image_skew=10)
    buf = ObservationBuffer(cfg, JOINTS)
    buf.add_joint_state(0.0, JOINTS, np.zeros(2))
    for k in range(4):
        buf.add_frame(float(k), _frame(k))
    with pytest.raises(ObservationUnavailable, match="frame history has 4 of the 5"):
        buf.latest(4.0)
    buf.add_frame(4.0, _frame(4))
    obs = buf.latest(4.0)
    assert [f[0, 0, 0] for f in obs.frames] == [0, 2, 4]


def test_state_far_from_frame_is_rejected():
    buf = ObservationBuffer(ObservationConfig(max_state_image_skew=0.01, max_state_age=1, max_image_age=1), JOINTS)
    buf.add_joint_state(0.0, JOINTS, np.zeros(2))
    buf.add_frame(0.5, _frame(0))
    with pytest.raises(ObservationUnavailable, match="no joint state within"):
        buf.latest(0.5)


def test_bad_inputs_are_clear_errors():
    buf = ObservationBuffer(ObservationConfig(), JOINTS)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        buf.add_frame(0.0, np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"lacks joints the policy needs: \['b'\]"):
        buf.add_joint_state(0.0, ("a",), np.zeros(1))
    with pytest.raises(ValueError, match="non-finite"):
        buf.add_joint_state(0.0, JOINTS, np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="num_frames"):
        ObservationConfig(num_frames=0)


def test_clock_jump_back_resets_history():
    cfg = ObservationConfig(num_frames=2, max_image_age=10, max_state_age=10, max_state_image_skew=10)
    buf = ObservationBuffer(cfg, JOINTS)
    buf.add_joint_state(5.0, JOINTS, np.zeros(2))
    buf.add_frame(5.0, _frame(1))
    buf.add_frame(6.0, _frame(2))
    buf.add_frame(0.1, _frame(3))  # sim reset: time restarts
    buf.add_joint_state(0.1, JOINTS, np.ones(2))
    with pytest.raises(ObservationUnavailable, match="frame history has 1 of the 2"):
        buf.latest(0.1)


def test_runner_computes_one_chunk_per_frame(tmp_path):
    """The runner never repeats a chunk for a frame it already answered (lock-stepped sim, slow camera)."""
    import torch

    from dit4dit_ros.engine import make_engine
    from dit4dit_ros.model.checkpoint import save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache
    from dit4dit_ros.engine.base import UnknownInstructionError
    from dit4dit_ros.policy.runner import ChunkTrace, PolicyRunner

    cfg = load_preset("tiny")
    cache = PromptEmbeddingCache("test", {"go": torch.randn(4, cfg.video.prompt_embed_dim)})
    save_checkpoint(tmp_path, DiT4DiT(cfg), NormalizationStats.for_layout(cfg.layout), cache)
    engine = make_engine("torch", str(tmp_path))
    buf = ObservationBuffer(ObservationConfig(max_image_age=10, max_state_age=10, max_state_image_skew=10),
                            engine.state_joint_names)
    published, skipped = [], []
    clock = [1.0]
    runner = PolicyRunner(engine, buf, now=lambda: clock[0], publish=published.append,
                          action_joint_names=engine.action_joint_names, control_period=engine.control_period,
                          on_skip=skipped.append)
    assert runner.step() is None and "no instruction" in skipped[-1]
    with pytest.raises(UnknownInstructionError, match=r"known instructions: \['go'\]"):
        runner.set_instruction("stop")
    runner.set_instruction("go")
    h, w = engine.image_size
    buf.add_joint_state(1.0, engine.state_joint_names, np.zeros(len(engine.state_joint_names)))
    buf.add_frame(1.0, np.zeros((h, w, 3), np.uint8))
    first = runner.step()
    assert first is not None and first.observation_stamp == 1.0 and first.positions.shape == (engine.horizon, 14)
    assert runner.step() is None and runner.stats.waiting_for_frame == 1  # same frame: no second chunk
    buf.add_frame(1.1, np.zeros((h, w, 3), np.uint8))
    clock[0] = 1.1
    assert runner.step().observation_stamp == 1.1
    assert len(published) == 2
    # each chunk's trace: the frame's time, the paired joint state's offset from it, digests of inputs and output
    trace = runner.stats.last_chunk
    assert trace.stamp == 1.1 and trace.state_skew_ms == pytest.approx(-100.0)  # the only state is from 1.0 s
    assert len(trace.input_digest) == len(trace.output_digest) == 12
    assert trace.as_dict()["chunk_stamp"] == 1.1
    # and per input: another picture with the same joint positions changes the image digest alone
    buf.add_frame(1.2, np.full((h, w, 3), 9, np.uint8))
    clock[0] = 1.2
    assert runner.step() is not None
    later = runner.stats.last_chunk
    assert later.joints_digest == trace.joints_digest and later.image_digest != trace.image_digest
    assert later.input_digest != trace.input_digest and len(later.image_digest) == len(later.joints_digest) == 12
    assert ChunkTrace.from_text({k: str(v) for k, v in later.as_dict().items()}).as_dict() == later.as_dict()

    # noise_seed: the chunk is a function of the observation alone (same observation -> same chunk, whatever came
    # before); without it, the engine's generator moves on and the same observation gives another chunk
    def chunk_after(previous_frames: int, noise_seed: int | None) -> np.ndarray:
        b = ObservationBuffer(ObservationConfig(max_image_age=10, max_state_age=10, max_state_image_skew=10),
                              engine.state_joint_names)
        r = PolicyRunner(engine, b, now=lambda: clock[0], publish=lambda c: None,
                         action_joint_names=engine.action_joint_names, control_period=engine.control_period,
                         noise_seed=noise_seed)
        r.set_instruction("go")
        b.add_joint_state(1.0, engine.state_joint_names, np.full(len(engine.state_joint_names), 0.1))
        for k in range(previous_frames):  # earlier chunks draw noise too
            b.add_frame(0.5 + 0.01 * k, np.full((h, w, 3), k, np.uint8))
            clock[0] = 0.5 + 0.01 * k
            assert r.step() is not None
        b.add_frame(1.0, np.full((h, w, 3), 7, np.uint8))
        clock[0] = 1.0
        positions = r.step().positions
        traces.append(r.stats.last_chunk)
        return positions

    traces = []
    np.testing.assert_array_equal(chunk_after(0, 3), chunk_after(2, 3))
    assert traces[0] == traces[1]  # same observation, same chunk: the traces of two runs agree
    assert not np.allclose(chunk_after(0, 3), chunk_after(0, 4))  # the seed matters
    # same inputs, another output: the trace tells an input difference from an engine (here: noise) difference
    assert traces[2].input_digest == traces[3].input_digest and traces[2].output_digest != traces[3].output_digest
    assert not np.allclose(chunk_after(0, None), chunk_after(0, None))


def test_gripper_channels_come_from_the_hand_joints_of_the_joint_state():
    """The official G1 layout's grippers are not joints: /joint_states (g1_state, hands: dex3) carries the Dex3-1
    joints, and the buffer fits the gripper value of each hand from them."""
    from dit4dit_ros.g1.hand_command import gripper_to_joints
    from dit4dit_ros.g1.hands import HAND_JOINT_NAMES, HandSide

    buf = ObservationBuffer(ObservationConfig(max_image_age=1.0, max_state_age=1.0), ("a", "left_gripper", "right_gripper"))
    names = ("a",) + HAND_JOINT_NAMES[HandSide.LEFT] + HAND_JOINT_NAMES[HandSide.RIGHT]
    q = np.concatenate([[0.5], gripper_to_joints("left", 0.25), gripper_to_joints("right", 1.0)])
    buf.add_joint_state(0.0, names, q)
    buf.add_frame(0.0, _frame(1))
    np.testing.assert_allclose(buf.latest(now=0.01).joint_positions, [0.5, 0.25, 1.0], atol=1e-9)
    with pytest.raises(ValueError, match=r"lacks joints the policy needs: \['right_gripper'\]"):
        buf.add_joint_state(0.02, names[:8], q[:8])  # the right hand's joints are missing


def test_state_at_frame_waits_for_the_state_of_the_frames_time():
    """Lock-step: the state of the frame's time is on its way; pairing with the nearest earlier one would make the
    observation depend on which of the two arrived first."""
    buf = ObservationBuffer(ObservationConfig(max_image_age=1.0, max_state_age=1.0, max_state_image_skew=0.05,
                                              state_at_frame=True), ("a",))
    buf.add_joint_state(0.99, ("a",), np.array([1.0]))
    buf.add_frame(1.0, _frame(1))
    with pytest.raises(ObservationUnavailable, match="waiting for the joint state of the frame's time"):
        buf.latest(now=1.0)
    buf.add_joint_state(1.0, ("a",), np.array([2.0]))
    obs = buf.latest(now=1.0)
    assert obs.state_stamp == 1.0 and obs.joint_positions[0] == 2.0
    # without it, the nearest state within the skew is taken at once
    plain = ObservationBuffer(ObservationConfig(max_image_age=1.0, max_state_age=1.0, max_state_image_skew=0.05), ("a",))
    plain.add_joint_state(0.99, ("a",), np.array([1.0]))
    plain.add_frame(1.0, _frame(1))
    assert plain.latest(now=1.0).state_stamp == 0.99
