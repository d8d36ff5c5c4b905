"""A v3.0 dataset that LeRobot itself wrote (tests/data/fixtures/lerobot_v30_converted, see its README): the
validator accepts it, the reader returns the recorded values and frames, and the training layout is found
by name, or by explicit columns once the G1 names are gone."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.dataset_layout import ColumnSelection, layout_for_dataset, parse_group_columns
from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig
from dit4dit_ros.data.lerobot_validate import validate
from dit4dit_ros.data.synthetic import COMMAND_OFFSET, decode_frame_number, ramp_positions
from dit4dit_ros.g1.channels import OFFICIAL_G1_GROUPS, channels_of_groups
from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES as GRIPPERS
from dit4dit_ros.g1.hands import ALL_HAND_JOINT_NAMES
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.model.normalization import RobotLayout

FIXTURE = Path(__file__).parent / "fixtures" / "lerobot_v30_converted"
RECORDED = JOINT_NAMES + ALL_HAND_JOINT_NAMES + GRIPPERS  # the synthetic streams' channel order
OFFICIAL = channels_of_groups(OFFICIAL_G1_GROUPS)[0]


def test_lerobot_written_v3_is_valid_and_reads_back_exactly():
    report = validate(FIXTURE)
    assert report.ok and report.version == "v3.0" and report.notes == [], report.issues
    ds = LeRobotDataset(FIXTURE, LeRobotReaderConfig(layout=RobotLayout.from_groups(OFFICIAL_G1_GROUPS),
                                                     image_size=(48, 64), action_horizon=4))
    assert len(ds) == 138 and ds.tasks == {0: "pick up the red cup", 1: "open the drawer"}
    column = np.array([RECORDED.index(n) for n in OFFICIAL])
    lengths = {0: 61, 1: 31, 2: 46}
    for ep, first_frame in ((0, 0), (1, 100), (2, 200)):
        rows = ds.episode_index == ep
        t = np.arange(lengths[ep]) / 30
        np.testing.assert_allclose(ds.state[rows], ramp_positions(t, len(RECORDED))[:, column], atol=2e-6)
        held = np.floor(t * 100 + 1e-6) / 100
        np.testing.assert_allclose(ds.action[rows], ramp_positions(held, len(RECORDED))[:, column] + COMMAND_OFFSET,
                                   atol=2e-6)
        assert [decode_frame_number(f) for f in ds.frames_at(ep, [0, lengths[ep] - 1])] == \
            [first_frame, first_frame + lengths[ep] - 1]
    sample = ds[61 + 5]
    assert (sample["episode_index"], sample["frame_index"], sample["task"]) == (1, 5, "open the drawer")
    assert [decode_frame_number(f.numpy()) for f in sample["video"]][:3] == [105, 107, 109]


def test_layout_of_a_lerobot_written_dataset_by_names_or_columns(tmp_path):
    layout = layout_for_dataset(FIXTURE, RobotLayout())
    assert layout.state_joints == OFFICIAL and layout.control_period == pytest.approx(1 / 30)
    stripped = tmp_path / "no_names"
    shutil.copytree(FIXTURE, stripped)
    info = json.loads((stripped / fmt.INFO_PATH).read_text())
    for key in ("observation.state", "action"):
        info["features"][key]["names"] = None
    (stripped / fmt.INFO_PATH).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="--state-columns"):
        layout_for_dataset(stripped, RobotLayout())
    spans = parse_group_columns("left_arm=0:7,right_arm=7:14,left_gripper=14,right_gripper=15")
    selection = ColumnSelection(state=spans, action=spans)
    layout = layout_for_dataset(stripped, RobotLayout(), selection)
    ds = LeRobotDataset(stripped, LeRobotReaderConfig(layout=layout, columns=selection, image_size=(48, 64)))
    reference = LeRobotDataset(FIXTURE, LeRobotReaderConfig(layout=layout, image_size=(48, 64)))
    np.testing.assert_array_equal(ds.action, reference.action)
