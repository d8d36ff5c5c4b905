"""One from-dict with the unknown-key check for every model config: a typo names its section and the valid keys."""
from __future__ import annotations

import pytest

from dit4dit_ros.model.action_dit import ActionDiTConfig
from dit4dit_ros.model.dit4dit import DiT4DiTConfig, TrainingDefaults, load_preset
from dit4dit_ros.model.normalization import RobotLayout
from dit4dit_ros.model.video_config import VideoBackboneConfig
from dit4dit_ros.utils.config_dict import dataclass_from_dict


@pytest.mark.parametrize("cls,section,valid", [
    (VideoBackboneConfig, "video config", "extract_layer"),
    (ActionDiTConfig, "action config", "horizon"),
    (RobotLayout, "layout config", "state_joints"),
    (TrainingDefaults, "training config", "action_lr"),
])
def test_each_section_rejects_a_typo_by_name(cls, section, valid):
    cfg = load_preset("tiny").to_dict()
    data = {"video": cfg["video"], "action": cfg["action"], "layout": cfg["layout"], "training": cfg["training"]}
    part = {VideoBackboneConfig: "video", ActionDiTConfig: "action", RobotLayout: "layout",
            TrainingDefaults: "training"}[cls]
    with pytest.raises(ValueError, match=rf"{section}: unknown keys \['horizn'\]; expected a subset of .*'{valid}'"):
        cls.from_dict({**data[part], "horizn": 16})
    # through the top level, the same message
    with pytest.raises(ValueError, match=rf"{section}: unknown keys \['horizn'\]"):
        DiT4DiTConfig.from_dict({**cfg, part: {**data[part], "horizn": 16}})


def test_top_level_typo_and_non_mapping():
    cfg = load_preset("tiny").to_dict()
    with pytest.raises(ValueError, match=r"top-level config: unknown keys \['moed'\]"):
        DiT4DiTConfig.from_dict({**cfg, "moed": "joint"})
    with pytest.raises(TypeError, match="layout config must be a mapping of settings, got list"):
        RobotLayout.from_dict(["left_shoulder_pitch_joint"])
    assert dataclass_from_dict(RobotLayout, {"control_period": 0.1}, "layout").control_period == 0.1
