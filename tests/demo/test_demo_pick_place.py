"""collect-sim --task pick_place -> an official-G1-layout dataset (arms + grippers) that train-demo trains on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def test_collect_pick_place_then_train_demo_end_to_end(tmp_path: Path) -> None:
    from dit4dit_ros.cli import main
    from dit4dit_ros.data.lerobot_validate import validate_dataset
    from dit4dit_ros.demo.train import DemoTrainSettings, train_demo
    from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES
    from dit4dit_ros.model.checkpoint import load_checkpoint

    data = tmp_path / "pick_place2"
    assert main(["collect-sim", "--task", "pick_place", "--episodes", "1", "--out", str(data), "--seed", "502"]) == 0
    assert validate_dataset(data) == []
    info = json.loads((data / "meta" / "info.json").read_text())
    assert info["features"]["action"]["shape"] == [16] and info["features"]["observation.state"]["shape"] == [16]
    assert info["features"]["action"]["names"][-2:] == list(ALL_GRIPPER_NAMES)
    modality = json.loads((data / "meta" / "modality.json").read_text())
    assert list(modality["action"]) == ["left_arm", "right_arm", "left_gripper", "right_gripper"]

    out = tmp_path / "run"
    train_demo(DemoTrainSettings(dataset=str(data), out=str(out), steps=2, batch_size=2, save_every=2, threads=1))
    ckpts = sorted(out.glob("**/config.json"))
    assert ckpts, list(out.rglob("*"))
    _, cfg, _, _ = load_checkpoint(ckpts[-1].parent)
    assert cfg.layout.action_joints[-2:] == ALL_GRIPPER_NAMES and cfg.layout.state_joints[-2:] == ALL_GRIPPER_NAMES
    assert cfg.layout.control_period == pytest.approx(0.1)
