"""Offline prompt embedding with the Cosmos-Predict2.5 text encoder (Qwen2.5-VL based), or a tiny random one.

The embedding follows diffusers' `Cosmos2_5_PredictBasePipeline._get_prompt_embeds`: a chat with a fixed system
line around the instruction, padded to `max_length`, ALL hidden layers except the embeddings, each normalized
over features (mean/std), concatenated along features -> (L, num_layers * hidden).

Encoders: a local directory holding a real Qwen2.5-VL text encoder and its tokenizer (either a diffusers
pipeline directory with text_encoder/ and tokenizer/ subfolders, or one directory with both), or
`tiny-random:<seed>`: the same transformers class (`Qwen2_5_VLForConditionalGeneration`) with tiny random
weights and a small BPE tokenizer trained here on a fixed corpus, deterministic per seed (tests, tiny/small
presets; 2 layers x 32 = 64 channels). Nothing is downloaded. The policy never imports this module.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Sequence, Union

import torch

from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

log = logging.getLogger(__name__)

SYSTEM_PROMPT = "You are a helpful assistant who will provide prompts to an image generator."
TINY_RANDOM_PREFIX = "tiny-random:"
TINY_HIDDEN, TINY_LAYERS = 32, 2
TINY_EMBED_DIM = TINY_HIDDEN * TINY_LAYERS

_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
]
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Fixed training text for the tiny tokenizer: the chat scaffolding plus tabletop-manipulation vocabulary, so the
# system line and typical instructions take few tokens (any text still tokenizes: byte-level fallback).
_TINY_CORPUS = [
    SYSTEM_PROMPT, "system user assistant",
    "pick up the red cup and place it on the plate", "put the apple in the bowl", "stack the cups",
    "arrange the flower in the vase", "insert the plate into the rack", "pack the box", "move the spoon",
    "open the drawer close the drawer", "push pull grasp lift left right hand arm table block cube green blue",
    "the a an to of on in into from with and or then",
]


def _chat(instruction: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "text", "text": instruction}]},
    ]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer (vocab 512) trained on a fixed corpus, with a Qwen-style chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TINY_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="right"
    )
    fast.chat_template = _CHAT_TEMPLATE
    return fast


def build_tiny_text_encoder(seed: int, vocab_size: int, token_ids: dict[str, int]):
    """`Qwen2_5_VLForConditionalGeneration` with 2 text layers of width 32, weights drawn from `seed`."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=TINY_HIDDEN, intermediate_size=64, num_hidden_layers=TINY_LAYERS,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
            bos_token_id=token_ids["<|endoftext|>"], eos_token_id=token_ids["<|im_end|>"],
            pad_token_id=token_ids["<|endoftext|>"],
        ),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=TINY_HIDDEN,
                           fullatt_block_indexes=[0]),
        image_token_id=token_ids["<|image_pad|>"], video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"], vision_end_token_id=token_ids["<|vision_end|>"],
    )
    devnull = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=devnull)))
        model = Qwen2_5_VLForConditionalGeneration(cfg)
    return model.eval()


def _dir_encoder_id(model_dir: str) -> str:
    with open(os.path.join(model_dir, "config.json"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return f"{os.path.basename(os.path.normpath(model_dir))}@{digest}"


def load_text_encoder(encoder: Union[str, os.PathLike]) -> tuple[Any, Any, str]:
    """(model, tokenizer, encoder_id) for `tiny-random:<seed>` or a local directory."""
    spec = os.fspath(encoder)
    if spec.startswith(TINY_RANDOM_PREFIX):
        seed_text = spec[len(TINY_RANDOM_PREFIX):]
        if not seed_text.isdigit():
            raise ValueError(f"encoder {spec!r}: expected {TINY_RANDOM_PREFIX}<non-negative integer seed>")
        tokenizer = build_tiny_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
        model = build_tiny_text_encoder(int(seed_text), len(tokenizer), ids)
        return model, tokenizer, f"{TINY_RANDOM_PREFIX}{int(seed_text)}"
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    root = os.path.expanduser(spec)
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"encoder {spec!r} is neither `{TINY_RANDOM_PREFIX}<seed>` nor a local directory of a Qwen2.5-VL"
            " text encoder + tokenizer"
        )
    model_dir, tok_dir = root, root
    if os.path.isdir(os.path.join(root, "text_encoder")):
        model_dir = os.path.join(root, "text_encoder")
        tok_dir = os.path.join(root, "tokenizer") if os.path.isdir(os.path.join(root, "tokenizer")) else root
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise FileNotFoundError(f"no config.json for the text encoder in {model_dir!r}")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    return model.eval(), tokenizer, _dir_encoder_id(model_dir)


def _input_ids(tokenizer: Any, instruction: str, max_length: int) -> torch.Tensor:
    ids = tokenizer.apply_chat_template(
        _chat(instruction), tokenize=True, add_generation_prompt=False, add_vision_id=False,
        max_length=max_length, truncation=True, padding="max_length",
    )
    if not isinstance(ids, list):
        ids = ids["input_ids"]
    return torch.as_tensor(ids, dtype=torch.long)


@torch.no_grad()
def encode_instructions(model: Any, tokenizer: Any, instructions: Sequence[str], max_length: int) -> torch.Tensor:
    """(B, max_length, num_layers * hidden): every hidden layer but the embeddings, feature-normalized, concatenated."""
    input_ids = torch.stack([_input_ids(tokenizer, text, max_length) for text in instructions])
    device = next(model.parameters()).device
    hidden = model(input_ids.to(device), output_hidden_states=True).hidden_states
    normalized = [(h - h.mean(dim=-1, keepdim=True)) / (h.std(dim=-1, keepdim=True) + 1e-8) for h in hidden[1:]]
    return torch.cat(normalized, dim=-1).float().cpu()


def embed_prompts(
    encoder: Union[str, os.PathLike],
    instructions: Sequence[str],
    out_path: Union[str, os.PathLike, None] = None,
    max_length: int = 512,
    batch_size: int = 4,
) -> PromptEmbeddingCache:
    """Embed `instructions` and (if `out_path`) save them, merging into an existing cache of the same encoder."""
    texts = list(dict.fromkeys(i.strip() for i in instructions))
    if not texts or any(not t for t in texts):
        raise ValueError(f"instructions must be non-empty strings, got {list(instructions)!r}")
    if max_length < 1 or batch_size < 1:
        raise ValueError("max_length and batch_size must be >= 1")
    model, tokenizer, encoder_id = load_text_encoder(encoder)
    cache = PromptEmbeddingCache(encoder_id)
    if out_path is not None and os.path.isfile(PromptEmbeddingCache.resolve_path(out_path)):
        cache = PromptEmbeddingCache.load(out_path)
        if cache.encoder_id != encoder_id:
            raise ValueError(
                f"{PromptEmbeddingCache.resolve_path(out_path)!r} holds embeddings of encoder {cache.encoder_id!r};"
                f" refusing to add ones from {encoder_id!r}"
            )
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        for text, emb in zip(chunk, encode_instructions(model, tokenizer, chunk, max_length)):
            cache.add(text, emb)
    if out_path is not None:
        log.info("saved %d prompt embeddings to %s", len(cache), cache.save(out_path))
    return cache
