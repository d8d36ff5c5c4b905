"""Checkpoint directories: exact round trip, and clear errors for truncated or mismatched files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dit4dit_ros.model.checkpoint import (
    CONFIG_FILE,
    NORMALIZATION_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.normalization import NormalizationStats


def obs_for(cfg, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.video.image_size
    return {
        "frames": torch.rand(2, cfg.video.num_cond_frames, 3, h, w, generator=g),
        "state": torch.randn(2, cfg.action.state_dim, generator=g),
        "prompt_embeds": torch.randn(2, 6, cfg.video.prompt_embed_dim, generator=g),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_preset("tiny")
    model = DiT4DiT(cfg).eval()
    stats = NormalizationStats.for_layout(cfg.layout)
    root = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(root, model, stats)
    return root, model, cfg, stats


def test_round_trip_gives_identical_predictions(saved):
    root, model, cfg, stats = saved
    assert sorted(p.name for p in root.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE]
    loaded, cfg2, stats2, cache = load_checkpoint(root)
    assert cache is None
    assert cfg2.to_dict() == cfg.to_dict()
    assert np.array_equal(stats2.action.max, stats.action.max)
    obs = obs_for(cfg)
    a = model.predict(obs, generator=torch.Generator().manual_seed(5))
    b = loaded.predict(obs, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def _copy(root, dest):
    dest.mkdir()
    for p in root.iterdir():
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_truncated_weights_name_the_file(saved, tmp_path):
    root = _copy(saved[0], tmp_path / "c")
    data = (root / WEIGHTS_FILE).read_bytes()
    (root / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: cannot read safetensors.*truncated"):
        load_checkpoint(root)


def test_missing_and_unexpected_keys(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    root = _copy(saved[0], tmp_path / "c")
    state = load_file(str(root / WEIGHTS_FILE))
    del state["action.state_encoder.layer1.weight"]
    state["action.bogus"] = torch.zeros(1)
    save_file(state, str(root / WEIGHTS_FILE))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(root)
    msg = str(err.value)
    assert WEIGHTS_FILE in msg and "missing keys: action.state_encoder.layer1.weight" in msg
    assert "unexpected keys: action.bogus" in msg


def test_wrong_shapes_from_another_config(saved, tmp_path):
    root = _copy(saved[0], tmp_path / "c")
    cfg = json.loads((root / CONFIG_FILE).read_text())
    cfg["action"]["hidden_size"] = 48
    (root / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"wrong shapes: action\.action_decoder\.layer1\.bias: file \(32,\) vs model \(48,\)"):
        load_checkpoint(root)


def test_bad_json_and_missing_files(saved, tmp_path):
    root = _copy(saved[0], tmp_path / "c")
    (root / CONFIG_FILE).write_text('{"name": "tiny",')
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        load_checkpoint(root)
    root2 = _copy(saved[0], tmp_path / "d")
    (root2 / NORMALIZATION_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"normalization\.json: missing"):
        load_checkpoint(root2)
    root3 = _copy(saved[0], tmp_path / "e")
    (root3 / NORMALIZATION_FILE).write_text(json.dumps({"state": {"min": [0]}, "action": {}}))
    with pytest.raises(CheckpointError, match=r"normalization\.json: bad normalization statistics"):
        load_checkpoint(root3)
    root4 = _copy(saved[0], tmp_path / "f")
    cfg = json.loads((root4 / CONFIG_FILE).read_text())
    cfg["action"]["horizon"] = -1
    (root4 / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"config\.json: invalid model configuration.*horizon"):
        load_checkpoint(root4)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
