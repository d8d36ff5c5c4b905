"""What a state or action vector of the G1 can hold: named channels, grouped by body part.

A channel is one scalar of a robot vector: a body joint (joints.py, 29), a Dex3-1 hand joint (hands.py, 14)
or a gripper scalar (hands.py, 2: 0 open .. 1 closed). Datasets (meta/modality.json), the model's
RobotLayout and the exporter all describe their vectors as a sequence of these groups, so that the
official DiT4DiT G1 keys (left_arm, right_arm, left_gripper, right_gripper) mean the same everywhere.
This module is the one table of groups; everything else asks it (docs/data.md "G1 channels and groups").
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Sequence

import numpy as np

from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES, ALL_HAND_JOINT_NAMES, HAND_JOINT_NAMES, HAND_JOINTS, HandSide
from dit4dit_ros.g1.joints import JOINT_INDEX, JOINT_NAMES, LEFT_ARM, LEGS, RIGHT_ARM, WAIST, limits_array

GRIPPER_RANGE = (0.0, 1.0)  # open .. closed
# Body-part groups, each in its channels' canonical order (SDK motor order for the body, Dex3-1 wire order for
# the hands).
BODY_GROUPS: MappingProxyType = MappingProxyType({
    "left_leg": LEGS[:6],
    "right_leg": LEGS[6:],
    "waist": WAIST,
    "left_arm": LEFT_ARM,
    "right_arm": RIGHT_ARM,
    "left_hand": HAND_JOINT_NAMES[HandSide.LEFT],
    "right_hand": HAND_JOINT_NAMES[HandSide.RIGHT],
    "left_gripper": (ALL_GRIPPER_NAMES[0],),
    "right_gripper": (ALL_GRIPPER_NAMES[1],),
})
ARMS_ONLY_GROUPS: tuple[str, ...] = ("left_arm", "right_arm")  # the rubber-hand G1: arms only
OFFICIAL_G1_GROUPS: tuple[str, ...] = ("left_arm", "right_arm", "left_gripper", "right_gripper")  # DiT4DiT G1
DEX3_G1_GROUPS: tuple[str, ...] = ("left_arm", "right_arm", "left_hand", "right_hand")  # full hand joints
# Groups that describe the same hand; a vector holds at most one of each pair.
_SAME_HAND = (("left_hand", "left_gripper"), ("right_hand", "right_gripper"))

CHANNEL_NAMES: tuple[str, ...] = JOINT_NAMES + ALL_HAND_JOINT_NAMES + ALL_GRIPPER_NAMES


def check_groups(groups: Iterable[str]) -> tuple[str, ...]:
    """`groups` as a tuple after checking the names, duplicates and hand/gripper pairs (ValueError names them)."""
    groups = tuple(groups)
    if not groups:
        raise ValueError(f"at least one group is needed; groups: {list(BODY_GROUPS)}")
    unknown = [g for g in groups if g not in BODY_GROUPS]
    if unknown:
        raise ValueError(f"unknown G1 group(s) {unknown}; expected names from {list(BODY_GROUPS)}")
    repeated = sorted({g for g in groups if groups.count(g) > 1})
    if repeated:
        raise ValueError(f"group(s) {repeated} listed twice in {list(groups)}")
    for hand, gripper in _SAME_HAND:
        if hand in groups and gripper in groups:
            raise ValueError(f"groups {hand!r} and {gripper!r} describe the same hand; use one of them")
    return groups


def channels_of_groups(groups: Iterable[str]) -> tuple[tuple[str, ...], dict[str, tuple[int, int]]]:
    """Channel names of `groups` concatenated, and each group's [start, end) slice of that vector."""
    names: list[str] = []
    slices: dict[str, tuple[int, int]] = {}
    for group in check_groups(groups):
        slices[group] = (len(names), len(names) + len(BODY_GROUPS[group]))
        names += BODY_GROUPS[group]
    return tuple(names), slices


def groups_of_channels(names: Sequence[str]) -> tuple[str, ...] | None:
    """The groups whose concatenation is exactly `names`, or None if `names` is not a sequence of whole groups."""
    out: list[str] = []
    i = 0
    names = tuple(names)
    while i < len(names):
        match = next((g for g, chans in BODY_GROUPS.items() if names[i : i + len(chans)] == chans), None)
        if match is None:
            return None
        out.append(match)
        i += len(BODY_GROUPS[match])
    return tuple(out) if out else None


def check_channel_names(names: Iterable[str]) -> None:
    """ValueError naming the unknown channel names (the valid ones are listed)."""
    unknown = [n for n in names if n not in _CHANNEL_SET]
    if unknown:
        raise ValueError(f"unknown G1 channel name(s) {unknown}; expected G1 joint names {list(JOINT_NAMES)}, "
                         f"Dex3-1 hand joints {list(ALL_HAND_JOINT_NAMES)} or grippers {list(ALL_GRIPPER_NAMES)}")


def channel_position_limits(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) float64 arrays of the channels' ranges: joint limits [rad], grippers [0, 1]."""
    check_channel_names(names)
    lo = np.empty(len(names))
    hi = np.empty(len(names))
    for i, name in enumerate(names):
        if name in JOINT_INDEX:
            lo[i], hi[i] = limits_array("position_min", [name])[0], limits_array("position_max", [name])[0]
        elif name in _HAND_SPECS:
            lo[i], hi[i] = _HAND_SPECS[name].position_min, _HAND_SPECS[name].position_max
        else:
            lo[i], hi[i] = GRIPPER_RANGE
    return lo, hi


_CHANNEL_SET = frozenset(CHANNEL_NAMES)
_HAND_SPECS = {j.name: j for joints in HAND_JOINTS.values() for j in joints}
