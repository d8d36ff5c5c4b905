"""collect-sim --task pick_place -> an official-G1-layout dataset (arms + grippers) that train-demo trains on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sim, pytest.mark.slow]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """One pick_place demonstration (seed 502), written by the CLI."""
    from dit4dit_ros.cli import main

    out = tmp_path_factory.mktemp("pick_place") / "pick_place1"
    assert main(["collect-sim", "--task", "pick_place", "--episodes", "1", "--out", str(out), "--seed", "502"]) == 0
    return out


def test_collect_pick_place_then_train_demo_end_to_end(data: Path, tmp_path: Path) -> None:
    from dit4dit_ros.data.lerobot_validate import validate_dataset
    from dit4dit_ros.demo.train import DemoTrainSettings, train_demo
    from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES
    from dit4dit_ros.model.checkpoint import load_checkpoint

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


def test_a_pick_place_run_takes_the_reach_models_video_branch(data: Path, tmp_path: Path) -> None:
    """--init-video-from: the shipped reach model (arms only) gives its trunk, VAE and latent statistics to a
    pick_place run (arms + grippers); the action head is new. With the trunk frozen (--mode action) the trained
    checkpoint's video weights are still the reach model's."""
    from dit4dit_ros.demo.train import DemoTrainSettings, train_demo
    from dit4dit_ros.model.checkpoint import WEIGHTS_FILE, read_weights

    reach = Path(__file__).resolve().parents[2] / "models" / "g1_reach_small"
    with pytest.raises(ValueError, match=r"differs from this run's model config in \['layout.action_joints'"):
        train_demo(DemoTrainSettings(dataset=str(data), out=str(tmp_path / "all"), steps=1, init_from=str(reach)))
    with pytest.raises(ValueError, match="init_from and init_video_from are different starts"):
        DemoTrainSettings(dataset=str(data), out=str(tmp_path / "x"), init_from=str(reach), init_video_from=str(reach))

    out = tmp_path / "run"
    train_demo(DemoTrainSettings(dataset=str(data), out=str(out), steps=2, batch_size=2, save_every=2, threads=1,
                                 mode="action", init_video_from=str(reach)))
    ckpt = sorted(out.glob("checkpoints/step_*"))[-1]
    shipped, trained = read_weights(reach / WEIGHTS_FILE), read_weights(ckpt / WEIGHTS_FILE)
    video = [k for k in shipped if k.startswith("video.")]
    assert len(video) > 200 and all(torch_equal(shipped[k], trained[k]) for k in video)
    saved = json.loads((ckpt / "config.json").read_text())
    reach_config = json.loads((reach / "config.json").read_text())
    assert saved["video"]["vae"]["latents_std"] == reach_config["video"]["vae"]["latents_std"]
    assert len(saved["layout"]["action_joints"]) == len(reach_config["layout"]["action_joints"]) + 2  # + grippers


def torch_equal(a, b) -> bool:
    return bool((a.float() == b.float()).all())
