"""Real weights load: a diffusers-format Cosmos directory (transformer/ + vae/, written by diffusers'
save_pretrained) goes through the preset's `video.weights_dir` in the pinned environment (accelerate installed)."""
from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset


@pytest.fixture(scope="module")
def cosmos_dir(tmp_path_factory):
    """A tiny random Cosmos-Predict2.5 diffusers directory, as a real release is laid out."""
    cfg = load_preset("tiny")
    torch.manual_seed(3)
    transformer = CosmosTransformer3DModel(**cfg.video.transformer)
    vae = AutoencoderKLWan(**cfg.video.vae)
    root = tmp_path_factory.mktemp("cosmos")
    transformer.save_pretrained(root / "transformer")
    vae.save_pretrained(root / "vae")
    return root, transformer.state_dict(), vae.state_dict()


def test_weights_dir_loads_the_saved_transformer_and_vae(cosmos_dir):
    root, transformer_sd, vae_sd = cosmos_dir
    assert (root / "transformer" / "config.json").is_file() and (root / "vae" / "config.json").is_file()
    torch.manual_seed(99)  # different random init: the weights must come from the directory
    model = DiT4DiT(load_preset("tiny", video_weights_dir=str(root)))
    loaded = model.video.transformer.state_dict()
    assert set(loaded) == set(transformer_sd)
    assert all(torch.equal(loaded[k], transformer_sd[k].float()) for k in transformer_sd)
    vae = model.video.vae.state_dict()
    assert all(torch.equal(vae[k], vae_sd[k].float()) for k in vae_sd)
    # and the loaded model runs a policy step
    obs = {"frames": torch.rand(1, 1, 3, 32, 32), "state": torch.zeros(1, 64), "prompt_embeds": torch.randn(1, 4, 64)}
    assert model.predict(obs, generator=torch.Generator().manual_seed(0)).shape == (1, 16, 32)


def test_weights_of_another_size_are_refused_with_the_key(cosmos_dir, tmp_path):
    root, _, _ = cosmos_dir
    cfg = load_preset("tiny", video_weights_dir=str(root))
    cfg.video.transformer["num_layers"] = 2  # the directory holds 3 blocks
    cfg.video.extract_layer = 1
    with pytest.raises(ValueError, match="transformer.num_layers=3, the preset says 2"):
        DiT4DiT(cfg)
