"""Normalization: min-max / mean-std round trips, sin/cos state, padding + masks, layout and JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dit4dit_ros.g1.joints import ARMS
from dit4dit_ros.model.normalization import (
    FeatureStats,
    NormalizationStats,
    RobotLayout,
    StateActionCodec,
    min_max_normalize,
    min_max_unnormalize,
    pad_to,
)


def make_stats(rng) -> NormalizationStats:
    state = rng.uniform(-1, 1, (100, 14))
    action = rng.uniform(-2, 1.5, (100, 14))
    return NormalizationStats(FeatureStats.from_data(state), FeatureStats.from_data(action), {"src": "test"})


def test_default_layout_is_both_arms():
    layout = RobotLayout()
    assert layout.state_joints == ARMS and layout.action_joints == ARMS and len(ARMS) == 14
    assert layout.encoded_state_width == 28
    assert RobotLayout.from_dict(layout.to_dict()) == layout


def test_layout_rejects_unknown_joint_and_bad_encoding():
    with pytest.raises(ValueError, match="unknown G1 channel name"):
        RobotLayout(state_joints=("left_elbow_joint", "left_pinky_joint"))
    with pytest.raises(ValueError, match="state_encoding"):
        RobotLayout(state_encoding="fourier")
    with pytest.raises(ValueError, match="duplicates"):
        RobotLayout(action_joints=("left_elbow_joint", "left_elbow_joint"))


def test_min_max_maps_to_unit_interval_and_back():
    rng = np.random.default_rng(0)
    data = rng.uniform(-3, 2, (50, 4))
    data[:, 3] = 0.7  # a constant feature
    stats = FeatureStats.from_data(data)
    x = min_max_normalize(data, stats)
    assert x[:, :3].min() == pytest.approx(-1) and x[:, :3].max() == pytest.approx(1)
    assert np.all(x[:, 3] == 0)
    assert np.allclose(min_max_unnormalize(x, stats), data)
    assert np.allclose(min_max_unnormalize(np.full(4, 5.0), stats), stats.max)  # clipped


def test_codec_state_sin_cos_and_padding():
    rng = np.random.default_rng(1)
    layout = RobotLayout()
    codec = StateActionCodec(layout, make_stats(rng), state_dim=64, action_dim=32)
    q = rng.uniform(-3, 3, 14)
    s = codec.encode_state(q)
    assert s.shape == (64,) and s.dtype == np.float32
    assert np.allclose(s[:14], np.sin(q), atol=1e-6) and np.allclose(s[14:28], np.cos(q), atol=1e-6)
    assert np.all(s[28:] == 0)
    # angle wrap: q and q + 2pi encode identically
    assert np.allclose(codec.encode_state(q + 2 * np.pi), s, atol=1e-5)
    with pytest.raises(ValueError, match="expected \\(..., 14\\)"):
        codec.encode_state(q[:13])


def test_codec_action_round_trip_and_mask():
    rng = np.random.default_rng(2)
    stats = make_stats(rng)
    codec = StateActionCodec(RobotLayout(), stats, state_dim=64, action_dim=32)
    raw = rng.uniform(stats.action.min, stats.action.max, (16, 14))
    padded, mask = codec.normalize_action(raw)
    assert padded.shape == (16, 32) and mask.shape == (16, 32)
    assert np.all(mask[:, :14] == 1) and np.all(mask[:, 14:] == 0) and np.all(padded[:, 14:] == 0)
    assert padded.min() >= -1 - 1e-6 and padded.max() <= 1 + 1e-6
    junk = padded.copy()
    junk[:, 14:] = 123.0  # padded outputs are dropped
    assert np.allclose(codec.unnormalize_action(junk), raw, atol=1e-5)


def test_mean_std_layout_round_trip():
    rng = np.random.default_rng(3)
    layout = RobotLayout(state_encoding="mean_std", action_normalization="mean_std")
    codec = StateActionCodec(layout, make_stats(rng), 32, 16)
    raw = rng.normal(size=(4, 14))
    padded, _ = codec.normalize_action(raw)
    assert np.allclose(codec.unnormalize_action(padded), raw, atol=1e-5)


def test_codec_size_checks():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="exceeds state_dim"):
        StateActionCodec(RobotLayout(), make_stats(rng), state_dim=20, action_dim=32)
    with pytest.raises(ValueError, match="cannot pad"):
        pad_to(np.zeros(5), 3)


def test_stats_json_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(5)
    stats = make_stats(rng)
    path = tmp_path / "normalization.json"
    stats.save(path)
    back = NormalizationStats.load(path)
    assert np.array_equal(back.action.min, stats.action.min) and back.extra == {"src": "test"}
    path.write_text("{not json")
    with pytest.raises(ValueError, match="normalization.json: not valid JSON"):
        NormalizationStats.load(path)
    path.write_text(json.dumps({"state": stats.state.to_dict()}))
    with pytest.raises(ValueError, match="missing key 'action'"):
        NormalizationStats.load(path)
    bad = stats.to_dict()
    bad["state"]["max"] = bad["state"]["max"][:3]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="differ in length"):
        NormalizationStats.load(path)


def test_stats_from_joint_limits():
    stats = NormalizationStats.for_layout(RobotLayout())
    assert stats.action.size == 14 and np.all(stats.action.max > stats.action.min)
