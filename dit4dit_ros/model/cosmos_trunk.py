"""Our own forward over the submodules of diffusers' `CosmosTransformer3DModel`.

Why not `transformer(...)`: (1) inference only needs the output of block `extract_layer`, so the blocks after it,
the output norm and the projection must not run (that is most of the trunk's cost); (2) diffusers 0.42.1 resizes
the padding mask with torchvision, which cannot be installed next to the CPU torch here, so we resize it with
`torch.nn.functional.interpolate(mode="nearest")` (identical for nearest-neighbour resizing of a mask).
The steps mirror diffusers' forward one to one; tests check equality against it. The text conditioning can be
given ready-made per block (model/cosmos_text.py): it depends on the instruction only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from diffusers import CosmosTransformer3DModel

from dit4dit_ros.model.cosmos_text import TextKV, project_text, weights_dtype

#: what the blocks cross-attend to: the text context (B, L, D) or its cached keys/values, one TextKV per block
TextConditioning = Union[torch.Tensor, tuple[TextKV, ...]]


@dataclass
class TrunkInputs:
    """Everything the blocks consume, computed once per call (what diffusers' forward builds before its loop)."""

    hidden_states: torch.Tensor  # (B, T*H'*W', D) patch tokens
    text: TextConditioning  # the projected text context, or the per-block cached keys/values
    embedded_timestep: torch.Tensor  # (B, T*H'*W', D)
    temb: torch.Tensor  # (B, T*H'*W', 3D) AdaLN-LoRA
    image_rotary_emb: tuple[torch.Tensor, torch.Tensor]
    extra_pos_emb: Optional[torch.Tensor]
    grid: tuple[int, int, int]  # post-patch (T, H', W')


def prepare_trunk_inputs(
    transformer: CosmosTransformer3DModel,
    latents: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    condition_mask: torch.Tensor,
    padding_mask: torch.Tensor,
    projected: bool = False,
) -> TrunkInputs:
    """Shapes: latents (B,C,T,H,W); timestep (B,1,T,1,1); condition_mask (B,1,T,H,W); padding_mask (1,1,h,w).

    `encoder_hidden_states`: the prompt embeddings; with `projected=True` the text context of `project_text` or
    the per-block keys/values of `cosmos_text.text_keys_values`.
    """
    cfg = transformer.config
    batch, _, num_frames, height, width = latents.shape
    if timestep.shape != (batch, 1, num_frames, 1, 1):
        raise ValueError(f"timestep must have shape {(batch, 1, num_frames, 1, 1)}, got {tuple(timestep.shape)}")
    if tuple(cfg.patch_size)[0] != 1:
        raise ValueError("only temporal patch size 1 is supported (as in every Cosmos-Predict2.5 model)")
    dtype = weights_dtype(transformer)
    latents, condition_mask, padding_mask = (t.to(dtype) for t in (latents, condition_mask, padding_mask))
    x = torch.cat([latents, condition_mask], dim=1)
    if cfg.concat_padding_mask:
        mask = F.interpolate(padding_mask, size=(height, width), mode="nearest")
        x = torch.cat([x, mask.unsqueeze(2).repeat(batch, 1, num_frames, 1, 1)], dim=1)
    rotary = transformer.rope(x)
    extra = transformer.learnable_pos_embed(x) if cfg.extra_pos_embed_type else None

    p_t, p_h, p_w = cfg.patch_size
    grid = (num_frames // p_t, height // p_h, width // p_w)
    tokens = transformer.patch_embed(x).flatten(1, 3)

    temb, embedded = transformer.time_embed(tokens, timestep.flatten())
    temb, embedded = (
        t.view(batch, grid[0], 1, 1, -1).expand(-1, -1, grid[1], grid[2], -1).flatten(1, 3) for t in (temb, embedded)
    )
    if isinstance(encoder_hidden_states, tuple):
        if not projected:
            raise ValueError("cached text keys/values are projected: pass projected=True")
        text: TextConditioning = tuple(TextKV(k.to(dtype), v.to(dtype)) for k, v in encoder_hidden_states)
    else:
        text = encoder_hidden_states.to(dtype) if projected else project_text(transformer, encoder_hidden_states)
    return TrunkInputs(tokens, text, embedded, temb, rotary, extra, grid)


def run_blocks(transformer: CosmosTransformer3DModel, inputs: TrunkInputs, last_block: int) -> torch.Tensor:
    """Run blocks 0..last_block (inclusive) and return the last one's output; later blocks never execute."""
    num_blocks = len(transformer.transformer_blocks)
    if not 0 <= last_block < num_blocks:
        raise ValueError(f"last_block must be in [0, {num_blocks - 1}], got {last_block}")
    cached = isinstance(inputs.text, tuple)
    if cached and len(inputs.text) <= last_block:
        raise ValueError(f"cached text keys/values cover blocks 0..{len(inputs.text) - 1}, the trunk runs to "
                         f"block {last_block}")
    x = inputs.hidden_states
    checkpoint = torch.is_grad_enabled() and transformer.gradient_checkpointing
    for i, block in enumerate(transformer.transformer_blocks[: last_block + 1]):
        args = (
            x,
            inputs.text[i] if cached else inputs.text,
            inputs.embedded_timestep,
            inputs.temb,
            inputs.image_rotary_emb,
            inputs.extra_pos_emb,
            None,
            None,
        )
        x = transformer._gradient_checkpointing_func(block, *args) if checkpoint else block(*args)
    return x


def output_head(transformer: CosmosTransformer3DModel, x: torch.Tensor, inputs: TrunkInputs) -> torch.Tensor:
    """Final AdaLN, projection and unpatchify: tokens (B,N,D) -> velocity (B,C_out,T,H,W), as diffusers does it."""
    p_t, p_h, p_w = transformer.config.patch_size
    t, h, w = inputs.grid
    x = transformer.norm_out(x, inputs.embedded_timestep, inputs.temb)
    x = transformer.proj_out(x)
    x = x.unflatten(2, (p_h, p_w, p_t, -1)).unflatten(1, (t, h, w))
    # Same (non-obvious) permutation as diffusers: the patch layout of proj_out is (p_h, p_w, p_t, C).
    x = x.permute(0, 7, 1, 6, 2, 4, 3, 5)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)


def full_forward(
    transformer: CosmosTransformer3DModel,
    latents: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    condition_mask: torch.Tensor,
    padding_mask: torch.Tensor,
) -> torch.Tensor:
    """All blocks + output head: the velocity prediction used by the video loss."""
    inputs = prepare_trunk_inputs(transformer, latents, timestep, encoder_hidden_states, condition_mask, padding_mask)
    x = run_blocks(transformer, inputs, len(transformer.transformer_blocks) - 1)
    return output_head(transformer, x, inputs)
