"""Official-release importer: a synthetic state_dict in the official names re-imports to identical predictions."""
from __future__ import annotations

import pytest
import torch

from dit4dit_ros.model.checkpoint import CheckpointError
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.official_import import (
    load_official_into,
    official_to_ours,
    ours_to_official,
    read_official_state_dict,
)


def _obs(cfg):
    g = torch.Generator().manual_seed(3)
    h, w = cfg.video.image_size
    return {"frames": torch.rand(1, 1, 3, h, w, generator=g), "state": torch.randn(1, cfg.action.state_dim, generator=g),
            "prompt_embeds": torch.randn(1, 5, cfg.video.prompt_embed_dim, generator=g)}


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return DiT4DiT(load_preset("tiny")).eval()


def test_official_names_and_round_trip(source, tmp_path):
    official = ours_to_official(source.state_dict())
    names = set(official)
    for expected in (
        "backbone_interface.extractor.transformer.transformer_blocks.0.attn1.to_q.weight",
        "backbone_interface.extractor.vae.encoder.conv_in.weight",
        "action_model.model.transformer_blocks.0.norm1.linear.weight",
        "action_model.model.transformer_blocks.0.attn1.to_out.0.weight",
        "action_model.model.transformer_blocks.1.ff.net.0.proj.weight",
        "action_model.model.transformer_blocks.1.ff.net.2.weight",
        "action_model.model.timestep_encoder.timestep_embedder.linear_1.weight",
        "action_model.model.proj_out_1.weight",
        "action_model.model.proj_out_2.weight",
        "action_model.state_encoder.layer1.weight",
        "action_model.action_encoder.layer3.weight",
        "action_model.action_decoder.layer2.weight",
        "action_model.position_embedding.weight",
    ):
        assert expected in names, expected
    # The official AdaLN order is (scale, shift): halves are swapped relative to ours.
    ours_w = source.state_dict()["action.model.transformer_blocks.0.norm1.linear.weight"]
    off_w = official["action_model.model.transformer_blocks.0.norm1.linear.weight"]
    half = ours_w.shape[0] // 2
    assert torch.equal(off_w[:half], ours_w[half:]) and torch.equal(off_w[half:], ours_w[:half])
    # plus keys we drop: the text encoder and identity norm3 affine params
    official["backbone_interface.extractor.text_encoder.model.embed_tokens.weight"] = torch.zeros(4, 2)
    official["action_model.model.transformer_blocks.0.norm3.weight"] = torch.ones(32)
    path = tmp_path / "official.pt"
    torch.save({"state_dict": official}, path)

    torch.manual_seed(99)
    target = DiT4DiT(load_preset("tiny")).eval()
    report = load_official_into(target, read_official_state_dict(path))
    assert len(report.dropped) == 2 and not report.unknown
    cfg = source.cfg
    a = source.predict(_obs(cfg), generator=torch.Generator().manual_seed(1))
    b = target.predict(_obs(cfg), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_unknown_and_mismatched_official_keys(source):
    official = ours_to_official(source.state_dict())
    official["vlln.weight"] = torch.zeros(3)
    target = DiT4DiT(load_preset("tiny"))
    with pytest.raises(ValueError, match="no counterpart: vlln.weight"):
        load_official_into(target, official)
    report = load_official_into(target, official, strict=False)
    assert report.unknown == ["vlln.weight"]
    del official["action_model.position_embedding.weight"]
    with pytest.raises(CheckpointError, match="missing keys: action.position_embedding.weight"):
        load_official_into(target, official, strict=False)
    _, rep = official_to_ours({"action_model.model.transformer_blocks.0.norm3.weight": torch.full((4,), 2.0)})
    assert rep.mapped == 1 and not rep.dropped  # a non-identity norm3 is kept, so loading it fails loudly
