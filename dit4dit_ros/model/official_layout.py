"""The official G1 data layout (`g1_body29_aloha_arms_only`) expressed in this project's layout.

The official G1 policy reads the state keys left_arm (7), right_arm (7), left_gripper (1), right_gripper (1), each
encoded as [sin(key), cos(key)] and concatenated key by key; it predicts actions in the same key order, min-max
normalised with the dataset statistics (`dataset_statistics.json`: {tag: {"state": {min, max, mean, std, q01, q99},
"action": {..., mask}}}, raw vectors in that key order). This project drives the 14 arm joints (RobotLayout ARMS,
the same joint order) with the state encoded [sin(all 14), cos(all 14)].

The state vector enters the model only through `state_encoder.layer1` (a linear layer), so the two encodings are
made exactly equivalent by permuting that layer's input columns; the grippers, which this robot does not have,
contribute a constant for a fixed gripper state, folded into the bias. Actions need no change: the first 14 action
dimensions are the arms in both layouts; the gripper dimensions are predicted and ignored.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from dit4dit_ros.g1.joints import ARMS
from dit4dit_ros.model.normalization import FeatureStats, NormalizationStats, RobotLayout

#: (key, width) of the official G1 state/action vectors, in order
OFFICIAL_G1_KEYS = (("left_arm", 7), ("right_arm", 7), ("left_gripper", 1), ("right_gripper", 1))
OFFICIAL_G1_WIDTH = sum(w for _, w in OFFICIAL_G1_KEYS)  # 16 raw values
ARM_DIMS = 14


def official_state_columns() -> tuple[list[int], list[int], list[int]]:
    """Column indices in the official encoded state (32 wide) of: sin of the 14 arm joints, cos of the 14 arm joints
    (both in ARMS order), and [sin, cos] of each gripper."""
    sin_cols, cos_cols, grip_cols = [], [], []
    offset = 0
    for key, width in OFFICIAL_G1_KEYS:
        sins, coss = list(range(offset, offset + width)), list(range(offset + width, offset + 2 * width))
        if key.endswith("arm"):
            sin_cols += sins
            cos_cols += coss
        else:
            grip_cols += sins + coss
        offset += 2 * width
    return sin_cols, cos_cols, grip_cols


def encode_official_state(q_arms: np.ndarray, grippers: np.ndarray) -> np.ndarray:
    """The official encoded state (32) of 14 arm angles and 2 gripper values (for tests and checks)."""
    raw = np.concatenate([q_arms[:7], q_arms[7:], grippers[:1], grippers[1:]])
    out, offset = [], 0
    for _, width in OFFICIAL_G1_KEYS:
        part = raw[offset:offset + width]
        out += [np.sin(part), np.cos(part)]
        offset += width
    return np.concatenate(out)


def adapt_state_encoder(weight: torch.Tensor, bias: torch.Tensor,
                        gripper_state: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """`state_encoder.layer1` of an official G1 release -> the same layer for this project's state encoding.

    weight (hidden, state_dim): the official columns 0..31 are replaced by ours ([sin 14, cos 14] in 0..27, zeros
    after: padding carries zeros anyway); the grippers' columns times [sin g, cos g] at `gripper_state` go into the
    bias. Exact for that gripper state."""
    sin_cols, cos_cols, grip_cols = official_state_columns()
    if weight.shape[1] < 2 * OFFICIAL_G1_WIDTH:
        raise ValueError(f"state_encoder.layer1 takes {weight.shape[1]} inputs, the official G1 state has "
                         f"{2 * OFFICIAL_G1_WIDTH}")
    g = np.asarray(gripper_state, dtype=np.float64)
    if g.shape != (2,) or not np.all(np.isfinite(g)):
        raise ValueError(f"gripper_state must be 2 finite values (left, right), got {gripper_state!r}")
    grip_values = torch.tensor([np.sin(g[0]), np.cos(g[0]), np.sin(g[1]), np.cos(g[1])], dtype=weight.dtype)
    new_weight = torch.zeros_like(weight)
    new_weight[:, :ARM_DIMS] = weight[:, sin_cols]
    new_weight[:, ARM_DIMS:2 * ARM_DIMS] = weight[:, cos_cols]
    new_weight[:, 2 * OFFICIAL_G1_WIDTH:] = weight[:, 2 * OFFICIAL_G1_WIDTH:]  # padding columns: unused either way
    new_bias = bias + weight[:, grip_cols] @ grip_values
    return new_weight, new_bias


def read_dataset_statistics(path: str | Path, unnorm_key: Optional[str] = None) -> tuple[str, dict[str, Any]]:
    """The official `dataset_statistics.json` -> (tag, its {"state": ..., "action": ...} block)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected the official dataset_statistics.json")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected {{tag: {{'state': ..., 'action': ...}}}}")
    if unnorm_key is None:
        if len(data) != 1:
            raise ValueError(f"{path} holds statistics of {sorted(data)}: choose one with --unnorm-key")
        unnorm_key = next(iter(data))
    if unnorm_key not in data:
        raise ValueError(f"{path}: no statistics for {unnorm_key!r}; it has {sorted(data)}")
    block = data[unnorm_key]
    for part in ("state", "action"):
        if part not in block or not all(k in block[part] for k in ("min", "max", "mean", "std")):
            raise ValueError(f"{path}: {unnorm_key}.{part} needs min, max, mean and std")
        width = len(block[part]["min"])
        if width != OFFICIAL_G1_WIDTH:
            raise ValueError(f"{path}: {unnorm_key}.{part} has {width} values, the official G1 layout has "
                             f"{OFFICIAL_G1_WIDTH} ({', '.join(k for k, _ in OFFICIAL_G1_KEYS)})")
    return unnorm_key, block


def g1_normalization(block: dict[str, Any], source: str) -> NormalizationStats:
    """This project's statistics (the 14 arm joints) from an official statistics block."""
    def arms(part: str) -> FeatureStats:
        return FeatureStats(*(np.asarray(block[part][k], dtype=np.float64)[:ARM_DIMS] for k in ("min", "max", "mean", "std")))

    return NormalizationStats(arms("state"), arms("action"), {"source": source})


def g1_layout(control_period: float) -> RobotLayout:
    """The arms-only layout that the adapted official weights expect."""
    return RobotLayout(state_joints=ARMS, action_joints=ARMS, state_encoding="sin_cos", action_normalization="min_max",
                       control_period=control_period)


def gripper_means(block: dict[str, Any]) -> np.ndarray:
    """The dataset's mean gripper state (left, right): the default state the grippers are folded in at."""
    return np.asarray(block["state"]["mean"], dtype=np.float64)[ARM_DIMS:OFFICIAL_G1_WIDTH]
