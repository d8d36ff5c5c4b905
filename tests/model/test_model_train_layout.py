"""`dit4dit train` on datasets other tools wrote: no G1 names in info.json, no modality.json; the columns are
chosen with flags or a layout file, and the checkpoint's control period is 1 / the dataset's fps."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dit4dit_ros.cli import main
from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.dataset_layout import ColumnSelection, layout_for_dataset, parse_group_columns
from dit4dit_ros.data.lerobot_writer import DatasetSpec, LeRobotDatasetWriter
from dit4dit_ros.data.synthetic import encode_frame_number
from dit4dit_ros.g1.channels import OFFICIAL_G1_GROUPS, channels_of_groups
from dit4dit_ros.g1.joints import ARMS
from dit4dit_ros.model.normalization import RobotLayout

OFFICIAL = channels_of_groups(OFFICIAL_G1_GROUPS)[0]
TASK = "put the cube in the bowl"


def _write(root, version, fps=10, episodes=2, length=24):
    spec = DatasetSpec(fps=fps, state_groups=OFFICIAL_G1_GROUPS, action_groups=OFFICIAL_G1_GROUPS,
                       video_sizes={"ego_view": (32, 32)}, format_version=version)
    writer = LeRobotDatasetWriter(root, spec)
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        q = np.cumsum(rng.normal(0, 0.02, (length, 16)), axis=0)
        q[:, 14:] = np.linspace(0, 1, length)[:, None]
        writer.add_episode(TASK, q, q + 0.01, {"ego_view": (encode_frame_number(k, 32, 32) for k in range(length))})
    return writer.finalize()


def _foreignize(root):
    """What LeRobot's own recorder leaves: motor names of its own, no GR00T modality.json."""
    info_path = root / fmt.INFO_PATH
    info = json.loads(info_path.read_text())
    for key in ("observation.state", "action"):
        info["features"][key]["names"] = {"motors": [f"motor_{i}" for i in range(16)]}
    info_path.write_text(json.dumps(info))
    (root / fmt.MODALITY_PATH).unlink()
    return root


@pytest.fixture(scope="module", params=["v2.1", "v3.0"])
def foreign(request, tmp_path_factory):
    return _foreignize(_write(tmp_path_factory.mktemp("foreign") / "ds", request.param))


SPANS = "left_arm=0:7,right_arm=7:14,left_gripper=14,right_gripper=15"


def test_layout_for_dataset_by_names_groups_and_columns(tmp_path, foreign):
    base = RobotLayout()  # the preset's: arms only, control period 1/30
    ours = _write(tmp_path / "ours", "v3.0", fps=15)
    layout = layout_for_dataset(ours, base)  # G1 names in info.json: every channel, 1 / fps
    assert layout.action_joints == OFFICIAL and layout.control_period == pytest.approx(1 / 15)
    (ours / fmt.INFO_PATH).write_text((ours / fmt.INFO_PATH).read_text().replace("left_elbow_joint", "elbow_L"))
    assert layout_for_dataset(ours, base).state_groups == OFFICIAL_G1_GROUPS  # then modality.json's groups
    with pytest.raises(ValueError, match="cannot tell which columns of 'observation.state' are which G1 channels.*"
                                         "--state-columns left_arm=0:7"):
        layout_for_dataset(foreign, base)
    selection = ColumnSelection(state=parse_group_columns(SPANS), action=parse_group_columns("left_arm=0:7,right_arm=7:14"))
    layout = layout_for_dataset(foreign, base, selection)
    assert layout.state_joints == OFFICIAL and layout.action_joints == ARMS
    assert layout.control_period == pytest.approx(0.1) and layout.state_encoding == base.state_encoding
    with pytest.raises(ValueError, match=r"group 'left_gripper' spans columns \[14,16\).*expected 1 column"):
        layout_for_dataset(foreign, base, ColumnSelection(state={"left_gripper": "14:16"}))
    with pytest.raises(ValueError, match="column span '7:3'"):
        parse_group_columns("left_arm=7:3")
    with pytest.raises(ValueError, match="expected GROUP=START:END"):
        parse_group_columns("left_arm")
    with pytest.raises(ValueError, match="inside a vector of 16"):
        layout_for_dataset(foreign, base, ColumnSelection(state={"left_arm": "10:17"}))


def test_layout_file_and_cli_errors(tmp_path, foreign, capsys):
    from dit4dit_ros.model.dit4dit import load_preset
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    layout_file = tmp_path / "layout.yaml"
    layout_file.write_text("state: {left_arm: '0:7', right_arm: 7:14, left_gripper: 14, right_gripper: '15'}\n"
                           "action: {left_arm: [0, 7], right_arm: '7:14', left_gripper: '14:15', right_gripper: 15}\n"
                           "video_key: ego_view\n")
    selection = ColumnSelection.load(layout_file)
    assert selection.state["left_gripper"] == (14, 15) and selection.action["left_arm"] == (0, 7)
    assert selection.state["right_arm"] == (7, 14)  # unquoted 7:14 is not YAML 1.1's base-60 integer 434
    (tmp_path / "bad.yaml").write_text("state: {left_arm: '0:7'}\nstatee: {}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown keys \['statee'\]"):
        ColumnSelection.load(tmp_path / "bad.yaml")
    dim = load_preset("tiny").video.prompt_embed_dim
    PromptEmbeddingCache("test-encoder", {TASK: torch.randn(8, dim)}).save(tmp_path / "prompts.safetensors")
    common = ["train", "--preset", "tiny", "--dataset", str(foreign), "--prompt-cache", str(tmp_path / "prompts.safetensors"),
              "--out", str(tmp_path / "run"), "--steps", "1", "--batch-size", "2", "--no-progress"]
    assert main(common) == 2  # no names, no modality.json: a clear error, before any model is built
    err = capsys.readouterr().err
    assert "error:" in err and "--state-columns" in err and not (tmp_path / "run").exists()
    assert main(common + ["--state-columns", SPANS, "--state-groups", "left_arm"]) == 2
    assert "--state-columns and --state-groups both given" in capsys.readouterr().err


@pytest.mark.slow
def test_train_on_a_foreign_dataset_with_a_layout_file(tmp_path, foreign):
    from dit4dit_ros.model.checkpoint import load_checkpoint
    from dit4dit_ros.model.dit4dit import load_preset
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    layout_file = tmp_path / "layout.yaml"
    layout_file.write_text(f"state: {{{SPANS.replace('=', ': ')}}}\naction: {{{SPANS.replace('=', ': ')}}}\n")
    dim = load_preset("tiny").video.prompt_embed_dim
    PromptEmbeddingCache("test-encoder", {TASK: torch.randn(8, dim)}).save(tmp_path / "prompts.safetensors")
    args = ["train", "--preset", "tiny", "--dataset", str(foreign), "--prompt-cache", str(tmp_path / "prompts.safetensors"),
            "--layout", str(layout_file), "--steps", "2", "--batch-size", "2", "--save-every", "2",
            "--warmup-steps", "1", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "run")]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "step_0000002"
    model, _, normalization, cache = load_checkpoint(ckpt)
    layout = model.cfg.layout
    assert layout.action_joints == OFFICIAL and layout.control_period == pytest.approx(0.1)  # 10 fps data
    assert normalization.action.size == 16
    np.testing.assert_allclose(normalization.action.max[14:], 1.01, atol=1e-6)  # the grippers' own range
    assert cache.instructions == [TASK]
    # fine-tuning from it on data with another layout is refused, naming the difference
    assert main(args + ["--out", str(tmp_path / "ft"), "--init-from", str(ckpt),
                        "--action-columns", "left_arm=0:7,right_arm=7:14"]) == 2
