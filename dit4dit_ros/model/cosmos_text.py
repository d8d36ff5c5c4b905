"""The trunk's text conditioning, computed once per instruction: projected prompt and per-block keys/values.

Every Cosmos block cross-attends to the same text: `crossattn_proj(prompt)` and then, in each block, `to_k`/`to_v`
(+ the RMS key norm) of that projection. None of it depends on the image or the time, so a policy computes it once
per instruction (`text_keys_values`) instead of at every step (for the 2B model: 0.105 TFLOPs of projection and
0.077 TFLOPs of keys/values per call). `TextAttnProcessor` is the blocks' cross-attention: diffusers'
CosmosAttnProcessor2_0 for the cross-attention case (no RoPE, no GQA), with the keys/values either computed from the
text (training) or taken from the cache (inference); `install_text_processors` puts it on every block.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from diffusers import CosmosTransformer3DModel
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.attention_processor import Attention


class TextKV(NamedTuple):
    """One block's cross-attention keys and values of the text, (B, heads, L, head_dim), key-normalised."""

    key: torch.Tensor
    value: torch.Tensor


def weights_dtype(transformer: CosmosTransformer3DModel) -> torch.dtype:
    """The dtype the trunk computes in: its weights' (fp32 on CPU, bf16 on GPU)."""
    return transformer.patch_embed.proj.weight.dtype


def project_text(transformer: CosmosTransformer3DModel, prompt_embeds: torch.Tensor) -> torch.Tensor:
    """Prompt embeddings (B, L, crossattn_proj_in_channels) -> the text context (B, L, text_embed_dim)."""
    prompt_embeds = prompt_embeds.to(weights_dtype(transformer))
    return transformer.crossattn_proj(prompt_embeds) if transformer.config.use_crossattn_projection else prompt_embeds


def _heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    return x.unflatten(2, (attn.heads, -1)).transpose(1, 2)


def block_text_kv(attn: Attention, text_context: torch.Tensor) -> TextKV:
    """Keys/values of the text context for one block's cross-attention (`attn2`)."""
    return TextKV(attn.norm_k(_heads(attn, attn.to_k(text_context))), _heads(attn, attn.to_v(text_context)))


def text_keys_values(transformer: CosmosTransformer3DModel, text_context: torch.Tensor,
                     num_blocks: int) -> tuple[TextKV, ...]:
    """The cached text conditioning of blocks 0..num_blocks-1 (what a truncated trunk runs)."""
    blocks = transformer.transformer_blocks
    if not 1 <= num_blocks <= len(blocks):
        raise ValueError(f"num_blocks must be in [1, {len(blocks)}], got {num_blocks}")
    return tuple(block_text_kv(block.attn2, text_context) for block in blocks[:num_blocks])


class TextAttnProcessor:
    """Cross-attention of the Cosmos blocks over the text, from the text or from its cached keys/values.

    The same operations as diffusers' CosmosAttnProcessor2_0 without RoPE (cross-attention has none) and without
    the GQA repeat (keys and values have as many heads as queries in every Cosmos-Predict2.5 model).
    """

    def __call__(self, attn: Attention, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | TextKV | None = None,
                 attention_mask: Optional[torch.Tensor] = None,
                 image_rotary_emb: Optional[torch.Tensor] = None) -> torch.Tensor:
        if encoder_hidden_states is None or image_rotary_emb is not None:
            raise ValueError("TextAttnProcessor is for the blocks' text cross-attention (attn2) only")
        kv = encoder_hidden_states if isinstance(encoder_hidden_states, TextKV) else \
            block_text_kv(attn, encoder_hidden_states)
        query = attn.norm_q(_heads(attn, attn.to_q(hidden_states)))
        out = dispatch_attention_fn(query.transpose(1, 2), kv.key.transpose(1, 2), kv.value.transpose(1, 2),
                                    attn_mask=attention_mask, dropout_p=0.0, is_causal=False)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def install_text_processors(transformer: CosmosTransformer3DModel) -> None:
    """Let every block's cross-attention take cached text keys/values (`TextKV`) as well as the text itself."""
    for block in transformer.transformer_blocks:
        if block.img_context:
            raise ValueError("Cosmos blocks with an image context are not supported (Predict2.5 has none)")
        block.attn2.set_processor(TextAttnProcessor())
