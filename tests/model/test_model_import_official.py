"""`dit4dit import-official` end to end on a synthetic release in the official format: state_dict names, the frozen
VAE left out (taken from the Cosmos directory), dataset_statistics.json in the official layout; the imported
checkpoint runs and predicts exactly what the release predicts on the official state encoding."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

from dit4dit_ros.model.checkpoint import load_checkpoint
from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.normalization import StateActionCodec, pad_to
from dit4dit_ros.model.official_import import ours_to_official
from dit4dit_ros.model.official_layout import encode_official_state, read_dataset_statistics

INSTRUCTION = "pick up the red cup"
TAG = "g1_body29_aloha_arms_only"


def _stats(rng: np.random.Generator) -> dict:
    def block(mask: bool) -> dict:
        lo = rng.uniform(-2.0, -0.5, 16)
        hi = lo + rng.uniform(0.5, 3.0, 16)
        d = {"min": lo.tolist(), "max": hi.tolist(), "mean": ((lo + hi) / 2).tolist(), "std": ((hi - lo) / 4).tolist(),
             "q01": lo.tolist(), "q99": hi.tolist()}
        return {**d, "mask": [True] * 14 + [False] * 2} if mask else d
    return {TAG: {"state": block(False), "action": block(True), "num_transitions": 100, "num_trajectories": 2}}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    cfg = load_preset("tiny")
    cfg.video.latent_norm = "official"  # what the release was trained with
    torch.manual_seed(0)
    official_model = DiT4DiT(cfg).eval()  # its state encoder reads the official G1 state layout
    cosmos = root / "cosmos"
    torch.manual_seed(1)
    CosmosTransformer3DModel(**cfg.video.transformer).save_pretrained(cosmos / "transformer")  # base weights
    vae = AutoencoderKLWan(**cfg.video.vae)
    vae.load_state_dict(official_model.video.vae.state_dict())
    vae.save_pretrained(cosmos / "vae")
    state = ours_to_official(official_model.state_dict())
    state = {k: v for k, v in state.items() if ".extractor.vae." not in k}  # releases may leave out the frozen VAE
    state["backbone_interface.extractor.text_encoder.model.embed_tokens.weight"] = torch.zeros(8, 4)
    (root / "run" / "checkpoints").mkdir(parents=True)
    weights = root / "run" / "checkpoints" / "steps_30000_pytorch_model.pt"
    torch.save(state, weights)
    stats = _stats(np.random.default_rng(0))
    (root / "run" / "dataset_statistics.json").write_text(json.dumps(stats))
    return root, weights, cosmos, official_model, stats


def test_import_official_end_to_end(release, tmp_path, capsys):
    from dit4dit_ros.cli import main
    from dit4dit_ros.engine import make_engine

    _, weights, cosmos, official_model, stats = release
    out = tmp_path / "imported"
    assert main(["import-official", "--checkpoint", str(weights), "--cosmos", str(cosmos), "--text-encoder",
                 "tiny-random:0", "--instruction", INSTRUCTION, "--out", str(out), "--preset", "tiny"]) == 0
    assert "vae from --cosmos" in capsys.readouterr().out
    record = json.loads((out / "import.json").read_text())
    assert record["filled_from_cosmos"] == ["vae"] and record["source"]["unnorm_key"] == TAG
    assert any("text_encoder" in k for k in record["dropped"])
    model, cfg, normalization, cache = load_checkpoint(out)
    assert cfg.video.latent_norm == "official" and cache.instructions == [INSTRUCTION]
    ref = official_model.state_dict()
    ours = model.state_dict()
    assert all(torch.equal(ours[k], ref[k]) for k in ref if k.startswith("video."))  # trunk from the release
    np.testing.assert_array_equal(normalization.action.min, stats[TAG]["action"]["min"][:14])
    np.testing.assert_array_equal(normalization.state.max, stats[TAG]["state"]["max"][:14])

    # Same chunk as the release fed its own state encoding, grippers at the dataset mean (what was folded in).
    rng = np.random.default_rng(2)
    q = rng.uniform(-1.0, 1.0, 14)
    grippers = np.asarray(stats[TAG]["state"]["mean"][14:16])
    codec = StateActionCodec(cfg.layout, normalization, cfg.action.state_dim, cfg.action.action_dim)
    ours_state = torch.from_numpy(codec.encode_state(q))[None].float()
    official_state = torch.from_numpy(pad_to(encode_official_state(q, grippers), 64)[0])[None].float()
    assert not torch.allclose(ours_state, official_state)  # the layouts differ...
    with torch.no_grad():  # ...the state tokens do not
        a = official_model.action.encode_state(official_state)
        b = model.action.encode_state(ours_state)
    assert (a - b).abs().max() <= 1e-5
    frames = torch.rand(1, 1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    prompt = cache.get(INSTRUCTION)[None]
    chunk_official = official_model.predict({"frames": frames, "state": official_state, "prompt_embeds": prompt},
                                            generator=torch.Generator().manual_seed(4))
    chunk_ours = model.predict({"frames": frames, "state": ours_state, "prompt_embeds": prompt},
                               generator=torch.Generator().manual_seed(4))
    assert (chunk_official - chunk_ours).abs().max() <= 1e-5
    # and it runs as a policy
    engine = make_engine("torch", str(out))
    out_chunk = engine.predict([rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)], q, INSTRUCTION)
    assert out_chunk.actions.shape == (16, 14) and np.all(np.isfinite(out_chunk.actions))


def test_statistics_problems_are_named(release, tmp_path):
    _, _, _, _, stats = release
    two = tmp_path / "two.json"
    two.write_text(json.dumps({**stats, "other": stats[TAG]}))
    with pytest.raises(ValueError, match=r"holds statistics of \['g1_body29_aloha_arms_only', 'other'\]: choose one"):
        read_dataset_statistics(two)
    assert read_dataset_statistics(two, "other")[0] == "other"
    narrow = tmp_path / "narrow.json"
    narrow.write_text(json.dumps({TAG: {"state": {k: v[:14] for k, v in stats[TAG]["state"].items()},
                                        "action": stats[TAG]["action"]}}))
    with pytest.raises(ValueError, match="state has 14 values, the official G1 layout has 16"):
        read_dataset_statistics(narrow)
    with pytest.raises(FileNotFoundError, match="dataset_statistics.json"):
        read_dataset_statistics(tmp_path / "dataset_statistics.json")
