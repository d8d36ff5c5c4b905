"""The LeRobot reader plugs into the trainer: `open_training_dataset` -> model.train.train -> a checkpoint."""
from __future__ import annotations

import json

import pytest
import torch

from dit4dit_ros.data.lerobot_dataset import open_training_dataset
from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
from dit4dit_ros.data.synthetic import SyntheticEpisodeSpec, write_synthetic_episodes


@pytest.mark.slow
def test_exported_dataset_trains_the_tiny_model(tmp_path):
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache
    from dit4dit_ros.model.train import BATCH_KEYS, TrainConfig, train

    write_synthetic_episodes(tmp_path / "bags", [SyntheticEpisodeSpec(duration_s=1.0)])
    export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "ds", ExportConfig(fps=30))
    cfg = load_preset("tiny")
    with pytest.raises(FileNotFoundError, match="embed-prompts"):
        open_training_dataset(tmp_path / "ds", cfg)
    empty = PromptEmbeddingCache("test-encoder", {"something else": torch.zeros(8, cfg.video.prompt_embed_dim)})
    with pytest.raises(ValueError, match="have no prompt embedding"):
        open_training_dataset(tmp_path / "ds", cfg, prompt_cache=empty)
    cache = PromptEmbeddingCache("test-encoder", {"pick up the red cup": torch.randn(8, cfg.video.prompt_embed_dim)})
    dataset = open_training_dataset(tmp_path / "ds", cfg, prompt_cache=cache)
    item = dataset[0]
    assert set(item) == set(BATCH_KEYS)
    h, w = cfg.video.image_size
    assert item["video"].shape == (cfg.video.num_frames, 3, h, w)
    assert item["state"].shape == (cfg.action.state_dim,) and item["action"].shape == (cfg.action.horizon, cfg.action.action_dim)
    model = DiT4DiT(cfg)
    tc = TrainConfig.from_model_defaults(cfg, str(tmp_path / "run"), steps=2, batch_size=2, save_every=2,
                                         warmup_steps=1, progress=False)
    result = train(model, dataset, tc, normalization=dataset.normalization, prompt_cache=cache)
    assert result.step == 2 and all(torch.isfinite(torch.tensor(r["loss_total"])) for r in result.history)
    saved = json.loads(next(result.last_checkpoint.glob("normalization*.json")).read_text())
    assert saved["extra"]["source"] == str(tmp_path / "ds")
