"""Prompt embeddings: tiny-random Qwen2.5-VL encoder, the cache file, unknown instructions, the CLI command."""
from __future__ import annotations

import argparse

import pytest
import torch

from dit4dit_ros.model.prompt_cache import FILENAME, PromptEmbeddingCache, UnknownInstructionError
from dit4dit_ros.model.text_encoder import TINY_EMBED_DIM, TINY_HIDDEN, embed_prompts, load_text_encoder

TASKS = ["pick up the red cup", "open the drawer"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    embed_prompts("tiny-random:0", TASKS, d, max_length=32)
    return d


def test_tiny_encoder_is_the_real_qwen_class():
    from transformers import Qwen2_5_VLForConditionalGeneration

    model, tokenizer, encoder_id = load_text_encoder("tiny-random:3")
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert encoder_id == "tiny-random:3"
    assert tokenizer.pad_token == "<|endoftext|>"


def test_embeddings_shape_normalisation_and_determinism(cache_dir):
    cache = PromptEmbeddingCache.load(cache_dir)
    assert (cache_dir / FILENAME).is_file()
    assert cache.instructions == TASKS and cache.encoder_id == "tiny-random:0"
    emb = cache.get("pick up the red cup")
    assert emb.shape == (32, TINY_EMBED_DIM)
    # every layer block of the concatenation is normalized over features
    for block in emb.split(TINY_HIDDEN, dim=-1):
        assert torch.allclose(block.mean(-1), torch.zeros(32), atol=1e-4)
        assert torch.allclose(block.std(-1), torch.ones(32), atol=1e-3)
    again = embed_prompts("tiny-random:0", ["pick up the red cup"], None, max_length=32)
    assert torch.equal(again.get("pick up the red cup"), emb)
    other_seed = embed_prompts("tiny-random:1", ["pick up the red cup"], None, max_length=32)
    assert not torch.allclose(other_seed.get("pick up the red cup"), emb)
    assert not torch.allclose(cache.get("open the drawer"), emb)
    assert cache.batch(TASKS).shape == (2, 32, TINY_EMBED_DIM)


def test_unknown_instruction_lists_known_ones(cache_dir):
    cache = PromptEmbeddingCache.load(cache_dir)
    with pytest.raises(UnknownInstructionError) as info:
        cache.get("fold the towel")
    assert "fold the towel" in str(info.value) and "pick up the red cup" in str(info.value)
    assert "open the drawer" in str(info.value)
    with pytest.raises(ValueError, match="encoder"):
        cache.get("open the drawer", encoder_id="tiny-random:1")


def test_merge_and_encoder_mismatch(tmp_path):
    embed_prompts("tiny-random:0", ["stack the cups"], tmp_path, max_length=16)
    merged = embed_prompts("tiny-random:0", ["move the spoon"], tmp_path, max_length=16)
    assert PromptEmbeddingCache.load(tmp_path).instructions == ["stack the cups", "move the spoon"] == merged.instructions
    with pytest.raises(ValueError, match="refusing"):
        embed_prompts("tiny-random:1", ["move the spoon"], tmp_path, max_length=16)
    with pytest.raises(ValueError, match="shape"):
        merged.add("x", torch.zeros(3, 3))


def test_bad_encoder_spec(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        load_text_encoder("tiny-random:abc")
    with pytest.raises(FileNotFoundError, match="Qwen2.5-VL"):
        load_text_encoder(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="embed-prompts"):
        PromptEmbeddingCache.load(tmp_path / "none.safetensors")


def test_embed_prompts_command(tmp_path, capsys):
    from dit4dit_ros.cli import CommandRegistry
    from dit4dit_ros.model import prompt_commands

    registry = CommandRegistry()
    prompt_commands.register(registry)
    command = registry.commands["embed-prompts"]
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(
        ["--encoder", "tiny-random:0", "--instruction", "pick up the red cup", "--out", str(tmp_path), "--preset", "tiny"]
    )
    assert command.run(args) == 0
    cache = PromptEmbeddingCache.load(tmp_path)
    assert cache.shape == (32, TINY_EMBED_DIM)  # the tiny preset's prompt_max_length
    assert "pick up the red cup" in capsys.readouterr().out
