"""Robot <-> model transforms: which joints form the vectors, per-feature normalisation, sin/cos state, padding.

The model works on fixed-width, normalised vectors (state_dim 64, action_dim 32 in the official G1 config); the robot
speaks raw joint positions in radians. This module is the one place that converts between the two, with its
statistics stored as JSON next to the weights (openpi style), so an engine reproduces training exactly.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dit4dit_ros.g1.channels import channels_of_groups, check_channel_names, groups_of_channels
from dit4dit_ros.g1.joints import ARMS
from dit4dit_ros.utils.config_dict import dataclass_from_dict

STATE_ENCODINGS = ("sin_cos", "min_max", "mean_std", "identity")
ACTION_NORMALIZATIONS = ("min_max", "mean_std", "identity")
_EPS = 1e-8


@dataclass
class RobotLayout:
    """The G1 channels (in vector order) that make up the state and the action vectors.

    A channel is a G1 joint (URDF name), a Dex3-1 hand joint or a gripper scalar (`left_gripper`, 0 open ..
    1 closed); see g1/channels.py. Default (the rubber-hand G1): both arms, 14 joints, state as sin/cos of
    the angles, actions min-max normalised to [-1, 1]. The official DiT4DiT G1 layout adds the two grippers:
    `RobotLayout.from_groups(OFFICIAL_G1_GROUPS)`. `control_period` is the time between two actions of a
    chunk, i.e. 1 / the fps of the training data.
    """

    state_joints: tuple[str, ...] = ARMS
    action_joints: tuple[str, ...] = ARMS
    state_encoding: str = "sin_cos"
    action_normalization: str = "min_max"
    control_period: float = 1.0 / 30.0

    def __post_init__(self) -> None:
        self.state_joints = tuple(self.state_joints)
        self.action_joints = tuple(self.action_joints)
        for name, joints in (("state_joints", self.state_joints), ("action_joints", self.action_joints)):
            if not joints:
                raise ValueError(f"RobotLayout.{name} must name at least one joint")
            if len(set(joints)) != len(joints):
                raise ValueError(f"RobotLayout.{name} has duplicates: {list(joints)}")
            check_channel_names(joints)  # unknown names -> ValueError listing the valid ones
        if self.state_encoding not in STATE_ENCODINGS:
            raise ValueError(f"RobotLayout.state_encoding {self.state_encoding!r}; expected one of {STATE_ENCODINGS}")
        if self.action_normalization not in ACTION_NORMALIZATIONS:
            raise ValueError(
                f"RobotLayout.action_normalization {self.action_normalization!r}; "
                f"expected one of {ACTION_NORMALIZATIONS}")
        if not (isinstance(self.control_period, (int, float)) and self.control_period > 0):
            raise ValueError(f"RobotLayout.control_period must be > 0 s, got {self.control_period!r}")

    @classmethod
    def from_groups(cls, state_groups: Sequence[str], action_groups: Sequence[str] | None = None,
                    **settings: Any) -> "RobotLayout":
        """The layout whose vectors are the concatenated body-part groups (g1/channels.py BODY_GROUPS), e.g.
        ("left_arm", "right_arm", "left_gripper", "right_gripper"); action groups default to the state's."""
        state, _ = channels_of_groups(state_groups)
        action, _ = channels_of_groups(action_groups if action_groups is not None else state_groups)
        return cls(state_joints=state, action_joints=action, **settings)

    @property
    def state_groups(self) -> tuple[str, ...] | None:
        """The body-part groups the state vector is made of, or None if it is not whole groups."""
        return groups_of_channels(self.state_joints)

    @property
    def action_groups(self) -> tuple[str, ...] | None:
        """The body-part groups the action vector is made of, or None if it is not whole groups."""
        return groups_of_channels(self.action_joints)

    @property
    def num_state_joints(self) -> int:
        return len(self.state_joints)

    @property
    def num_action_joints(self) -> int:
        return len(self.action_joints)

    @property
    def encoded_state_width(self) -> int:
        """Width of the state vector before padding (2 per joint with sin/cos)."""
        return 2 * self.num_state_joints if self.state_encoding == "sin_cos" else self.num_state_joints

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_joints": list(self.state_joints),
            "action_joints": list(self.action_joints),
            "state_encoding": self.state_encoding,
            "action_normalization": self.action_normalization,
            "control_period": float(self.control_period),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RobotLayout":
        return dataclass_from_dict(cls, data, "layout config")


@dataclass
class FeatureStats:
    """Per-feature statistics of one vector (state or action), in raw units."""

    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("min", "max", "mean", "std"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(f"FeatureStats.{name} must be a non-empty 1-D array, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"FeatureStats.{name} contains non-finite values")
            arrays[name] = arr
            setattr(self, name, arr)
        sizes = {k: v.size for k, v in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"FeatureStats arrays differ in length: {sizes}")
        if np.any(self.max < self.min):
            raise ValueError("FeatureStats: max < min for some feature")
        if np.any(self.std < 0):
            raise ValueError("FeatureStats: negative std")

    @property
    def size(self) -> int:
        return int(self.min.size)

    @classmethod
    def from_data(cls, data: np.ndarray) -> "FeatureStats":
        """Statistics over all leading axes of `data` (..., F)."""
        flat = np.asarray(data, dtype=np.float64).reshape(-1, np.shape(data)[-1])
        if flat.shape[0] == 0:
            raise ValueError("FeatureStats.from_data: no samples")
        return cls(flat.min(0), flat.max(0), flat.mean(0), flat.std(0))

    @classmethod
    def identity(cls, size: int, low: float = -math.pi, high: float = math.pi) -> "FeatureStats":
        """Stats that leave joint angles in [low, high] mapped linearly onto [-1, 1] (for tests and demos)."""
        return cls(np.full(size, low), np.full(size, high), np.zeros(size), np.ones(size))

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("min", "max", "mean", "std")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureStats":
        missing = [k for k in ("min", "max", "mean", "std") if k not in data]
        if missing:
            raise ValueError(f"FeatureStats: missing keys {missing}")
        return cls(**{k: np.asarray(data[k], dtype=np.float64) for k in ("min", "max", "mean", "std")})


def min_max_normalize(x: np.ndarray, stats: FeatureStats) -> np.ndarray:
    """Map [min, max] to [-1, 1] per feature; a constant feature maps to 0."""
    span = stats.max - stats.min
    safe = np.where(span > _EPS, span, 1.0)
    out = 2.0 * (np.asarray(x, np.float64) - stats.min) / safe - 1.0
    return np.where(span > _EPS, out, 0.0)


def min_max_unnormalize(x: np.ndarray, stats: FeatureStats) -> np.ndarray:
    """Inverse of min_max_normalize; inputs are clipped to [-1, 1] so a wild prediction stays inside the data range."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    return (x + 1.0) / 2.0 * (stats.max - stats.min) + stats.min


def mean_std_normalize(x: np.ndarray, stats: FeatureStats) -> np.ndarray:
    return (np.asarray(x, np.float64) - stats.mean) / np.maximum(stats.std, _EPS)


def mean_std_unnormalize(x: np.ndarray, stats: FeatureStats) -> np.ndarray:
    return np.asarray(x, np.float64) * np.maximum(stats.std, _EPS) + stats.mean


def sin_cos_encode(angles: np.ndarray) -> np.ndarray:
    """(..., n) angles -> (..., 2n) [sin(q_1..q_n), cos(q_1..q_n)]: continuous across the +-pi wrap."""
    q = np.asarray(angles, np.float64)
    return np.concatenate([np.sin(q), np.cos(q)], axis=-1)


def pad_to(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad the last axis to `width`; returns (padded, mask) with mask 1 on the real features."""
    x = np.asarray(x)
    n = x.shape[-1]
    if n > width:
        raise ValueError(f"cannot pad a vector of width {n} to {width}: raise the model's padded dim")
    padded = np.zeros(x.shape[:-1] + (width,), dtype=np.float32)
    padded[..., :n] = x
    mask = np.zeros_like(padded)
    mask[..., :n] = 1.0
    return padded, mask


@dataclass
class NormalizationStats:
    """Raw-unit statistics of the state and action vectors of a dataset (layout order). Saved as JSON."""

    state: FeatureStats
    action: FeatureStats
    extra: dict[str, Any] = field(default_factory=dict)  # provenance: dataset name, episode count, ...

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.to_dict(), "action": self.action.to_dict(), "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NormalizationStats":
        for key in ("state", "action"):
            if key not in data:
                raise ValueError(f"NormalizationStats: missing key {key!r}")
        return cls(FeatureStats.from_dict(data["state"]), FeatureStats.from_dict(data["action"]),
                   dict(data.get("extra", {})))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "NormalizationStats":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); expected normalization statistics") from exc
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: bad normalization statistics: {exc}") from exc

    @classmethod
    def for_layout(cls, layout: RobotLayout) -> "NormalizationStats":
        """Stats from the channels' ranges (G1 and hand joint limits, grippers [0, 1]; no dataset needed): a sane
        default for untrained/demo models."""
        from dit4dit_ros.g1.channels import channel_position_limits

        def stats(names: tuple[str, ...]) -> FeatureStats:
            lo, hi = channel_position_limits(names)
            return FeatureStats(lo, hi, (lo + hi) / 2, (hi - lo) / 4)

        return cls(stats(layout.state_joints), stats(layout.action_joints), {"source": "g1 joint limits"})


class StateActionCodec:
    """Raw robot vectors <-> padded, normalised model vectors for one layout, stats and padded widths."""

    def __init__(self, layout: RobotLayout, stats: NormalizationStats, state_dim: int, action_dim: int) -> None:
        if stats.state.size != layout.num_state_joints:
            raise ValueError(f"state stats have {stats.state.size} features, layout has "
                             f"{layout.num_state_joints} state joints")
        if stats.action.size != layout.num_action_joints:
            raise ValueError(f"action stats have {stats.action.size} features, layout has "
                             f"{layout.num_action_joints} action joints")
        if layout.encoded_state_width > state_dim:
            raise ValueError(f"encoded state width {layout.encoded_state_width} exceeds state_dim {state_dim}")
        if layout.num_action_joints > action_dim:
            raise ValueError(f"{layout.num_action_joints} action joints exceed action_dim {action_dim}")
        self.layout, self.stats, self.state_dim, self.action_dim = layout, stats, state_dim, action_dim

    def encode_state(self, joint_positions: np.ndarray) -> np.ndarray:
        """(..., n_state_joints) raw radians -> (..., state_dim) float32, padded with zeros."""
        q = np.asarray(joint_positions, np.float64)
        n = self.layout.num_state_joints
        if q.shape[-1:] != (n,):
            raise ValueError(f"joint_positions has shape {q.shape}, expected (..., {n}) in layout state order "
                             f"{list(self.layout.state_joints)}")
        if not np.all(np.isfinite(q)):
            raise ValueError("joint_positions contains non-finite values")
        enc = self.layout.state_encoding
        if enc == "sin_cos":
            x = sin_cos_encode(q)
        elif enc == "min_max":
            x = min_max_normalize(q, self.stats.state)
        elif enc == "mean_std":
            x = mean_std_normalize(q, self.stats.state)
        else:
            x = q
        return pad_to(x, self.state_dim)[0]

    def normalize_action(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., H, n_action_joints) raw -> (padded normalised (..., H, action_dim), mask) float32."""
        a = np.asarray(actions, np.float64)
        n = self.layout.num_action_joints
        if a.shape[-1:] != (n,):
            raise ValueError(f"actions have shape {a.shape}, expected (..., {n}) in layout action order")
        norm = self.layout.action_normalization
        if norm == "min_max":
            x = min_max_normalize(a, self.stats.action)
        elif norm == "mean_std":
            x = mean_std_normalize(a, self.stats.action)
        else:
            x = a
        return pad_to(x, self.action_dim)

    def unnormalize_action(self, model_actions: np.ndarray) -> np.ndarray:
        """(..., H, action_dim) model output -> (..., H, n_action_joints) raw radians (padding dropped)."""
        x = np.asarray(model_actions, np.float64)
        if x.shape[-1] != self.action_dim:
            raise ValueError(f"model actions have width {x.shape[-1]}, expected action_dim {self.action_dim}")
        x = x[..., : self.layout.num_action_joints]
        norm = self.layout.action_normalization
        if norm == "min_max":
            return min_max_unnormalize(x, self.stats.action)
        if norm == "mean_std":
            return mean_std_unnormalize(x, self.stats.action)
        return x
