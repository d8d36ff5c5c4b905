"""`dit4dit train --dataset DIR --prompt-cache FILE`: the command line trains on a LeRobot dataset."""
from __future__ import annotations

import pytest
import torch

from dit4dit_ros.cli import main


@pytest.mark.slow
def test_train_command_on_an_exported_dataset_with_a_prompt_cache(tmp_path):
    from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
    from dit4dit_ros.data.synthetic import SyntheticEpisodeSpec, write_synthetic_episodes
    from dit4dit_ros.model.checkpoint import load_checkpoint
    from dit4dit_ros.model.dit4dit import load_preset
    from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

    write_synthetic_episodes(tmp_path / "bags", [SyntheticEpisodeSpec(duration_s=1.0)])
    export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "ds", ExportConfig(fps=30))
    dim = load_preset("tiny").video.prompt_embed_dim
    PromptEmbeddingCache("test-encoder", {"pick up the red cup": torch.randn(8, dim)}).save(tmp_path / "prompts.safetensors")
    code = main(["train", "--preset", "tiny", "--dataset", str(tmp_path / "ds"), "--prompt-cache",
                 str(tmp_path / "prompts.safetensors"), "--out", str(tmp_path / "run"), "--steps", "2",
                 "--batch-size", "2", "--save-every", "2", "--warmup-steps", "1", "--no-progress"])
    assert code == 0
    ckpt = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    _, _, _, cache = load_checkpoint(ckpt)
    assert cache is not None and cache.instructions == ["pick up the red cup"]
