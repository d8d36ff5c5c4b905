"""`dit4dit bench flops`: floating-point operations of one policy step, per stage, counted without weights.

The model is built on the meta device (no memory is allocated, so the 2B preset is counted on any machine) and run
under torch's FlopCounterMode with attention routed through the math kernel (a fused kernel would not be counted).
Two paths at the same configuration:
- this project's step: first-frame VAE encode, the trunk up to the hooked block with the instruction's text
  conditioning (projection and per-block keys/values, once per instruction, reported apart), the visual keys/values
  once per chunk, the Euler steps;
- the official inference path restated (docs/engines.md): the text encoder on every call at its real size, the
  VAE over the whole zero-padded clip, all trunk blocks with the output head and the text projection, the visual
  keys/values recomputed at every Euler step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

# Cosmos-Predict2.5's text encoder (Cosmos-Reason1-7B, a Qwen2.5-VL-7B): its language model's sizes.
# 28 layers x 3584 = 100352 = the 2B transformer's crossattn_proj_in_channels.
REASON1_7B_TEXT = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                       num_attention_heads=28, num_key_value_heads=4)
TF = 1e12


@dataclass
class FlopsReport:
    preset: str
    project: dict[str, int] = field(default_factory=dict)  # per policy step
    per_instruction: dict[str, int] = field(default_factory=dict)  # once per instruction (cached)
    official: dict[str, int] = field(default_factory=dict)  # per call of the official path
    text_encoder: Optional[str] = None  # which text encoder the official path was counted with

    @property
    def project_total(self) -> int:
        return sum(self.project.values())

    def official_total(self, with_text_encoder: bool) -> int:
        return sum(v for k, v in self.official.items() if with_text_encoder or k != "text_encoder")

    def ratios(self) -> tuple[Optional[float], float]:
        """official/project (with the text encoder, or None if it could not be counted), (without)."""
        with_te = self.official_total(True) / self.project_total if "text_encoder" in self.official else None
        return with_te, self.official_total(False) / self.project_total


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs of `fn()` (a multiply-add counts 2), attention through the math kernel so that it is counted."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _text_encoder_config(prompt_embed_dim: int) -> tuple[Optional[dict[str, int]], Optional[str]]:
    """The language-model sizes of the encoder whose embeddings the preset takes (matched by their width)."""
    from dit4dit_ros.model.text_encoder import TINY_EMBED_DIM, TINY_HIDDEN, TINY_LAYERS

    if prompt_embed_dim == REASON1_7B_TEXT["num_hidden_layers"] * REASON1_7B_TEXT["hidden_size"]:
        return REASON1_7B_TEXT, "Cosmos-Reason1-7B (Qwen2.5-VL-7B language model + LM head)"
    if prompt_embed_dim == TINY_EMBED_DIM:
        return dict(vocab_size=512, hidden_size=TINY_HIDDEN, intermediate_size=64, num_hidden_layers=TINY_LAYERS,
                    num_attention_heads=4, num_key_value_heads=2), "tiny-random (2 x 32)"
    return None, None


def _text_encoder_flops(sizes: dict[str, int], length: int) -> int:
    """One forward of Qwen2_5_VLForConditionalGeneration over `length` tokens with hidden states (as the official
    feature extractor calls it), built on the meta device."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    heads = sizes["num_attention_heads"]
    half = sizes["hidden_size"] // heads // 2
    section = [half - 2 * (half // 3), half // 3, half // 3]  # mrope sections summing to head_dim / 2
    cfg = Qwen2_5_VLConfig(
        text_config=dict(sizes, max_position_embeddings=max(4096, length),
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": section}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2,
                           out_hidden_size=sizes["hidden_size"], fullatt_block_indexes=[0]),
    )
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
        ids = torch.zeros(1, length, dtype=torch.long)
        positions = torch.arange(length).view(1, 1, -1).expand(3, 1, -1)  # text-only: the same index on all 3 axes
    return count_flops(lambda: model(input_ids=ids, position_ids=positions, output_hidden_states=True))


def count_policy_flops(preset: Any, num_steps: Optional[int] = None, prompt_length: Optional[int] = None,
                       text_encoder: bool = True) -> FlopsReport:
    """FLOPs of one policy step of `preset` (a name, a YAML path or a DiT4DiTConfig) for this project and for the
    official path."""
    from dit4dit_ros.model.cosmos_trunk import full_forward
    from dit4dit_ros.model.dit4dit import DiT4DiT, DiT4DiTConfig, load_preset

    cfg = preset if isinstance(preset, DiT4DiTConfig) else load_preset(preset)
    with torch.device("meta"):
        model = DiT4DiT(cfg, load_weights=False).eval()
    video, action = model.video, model.action
    vcfg, acfg = cfg.video, cfg.action
    steps = num_steps or acfg.num_inference_steps
    length = prompt_length or vcfg.prompt_max_length
    h, w = vcfg.image_size
    with torch.device("meta"):
        frames = torch.zeros(1, vcfg.num_cond_frames, 3, h, w)
        clip = torch.zeros(1, vcfg.num_frames, 3, h, w)
        prompt = torch.zeros(1, length, vcfg.prompt_embed_dim)
        noise = torch.zeros(video.future_noise_shape(1))
        state = torch.zeros(1, acfg.state_dim)
        x = torch.zeros(1, acfg.horizon, acfg.action_dim)
        bucket = torch.zeros(1, dtype=torch.long)
    report = FlopsReport(preset=cfg.name)

    text = video.text_conditioning(prompt)
    cond = video.encode_frames(frames)
    tokens = video.tokens_from_latents(cond, text, noise=noise)
    state_token = action.encode_state(state)
    kv = action.context_kv(tokens)
    report.per_instruction["text_conditioning"] = count_flops(lambda: video.text_conditioning(prompt))
    report.project["vae_encode"] = count_flops(lambda: video.encode_frames(frames))
    report.project["video_trunk"] = count_flops(lambda: video.tokens_from_latents(cond, text, noise=noise))
    report.project["action_context"] = count_flops(lambda: (action.encode_state(state), action.context_kv(tokens)))
    report.project["action_steps"] = steps * count_flops(lambda: action.velocity(x, bucket, kv, state_token))

    # The official path at the same configuration.
    latents = torch.cat([cond, noise], dim=2)
    indicator, cond_mask, padding = video._masks(1, latents.device)
    timestep = video._timestep(indicator, torch.full((1,), vcfg.tau_f, device=latents.device))
    report.official["vae_encode"] = count_flops(lambda: video.encode(video._pixels(clip, "clip", vcfg.num_frames)))
    report.official["video_trunk"] = count_flops(
        lambda: full_forward(video.transformer, latents, timestep, prompt, cond_mask, padding))
    report.official["action_context"] = count_flops(lambda: action.encode_state(state))
    report.official["action_steps"] = steps * count_flops(lambda: action.velocity(x, bucket, tokens, state_token))
    sizes, name = _text_encoder_config(vcfg.prompt_embed_dim) if text_encoder else (None, None)
    if sizes is not None:
        report.official["text_encoder"] = _text_encoder_flops(sizes, length)
        report.text_encoder = name
    return report


def format_flops(report: FlopsReport) -> str:
    rows = ("text_encoder", "vae_encode", "video_trunk", "action_context", "action_steps")
    lines = [f"FLOPs of one policy step, preset {report.preset} (TFLOPs, multiply-add = 2; meta device, attention "
             f"through the math kernel)", "", f"{'stage':<16} {'project':>10} {'official':>10}"]
    for row in rows:
        ours = report.project.get(row)
        theirs = report.official.get(row)
        fmt = lambda v: f"{v / TF:>10.4f}" if v is not None else f"{'-':>10}"  # noqa: E731
        lines.append(f"{row:<16} {fmt(ours)} {fmt(theirs)}")
    lines.append(f"{'total':<16} {report.project_total / TF:>10.4f} {report.official_total(True) / TF:>10.4f}")
    for name, value in report.per_instruction.items():
        lines.append(f"(once per instruction, cached: {name} {value / TF:.4f})")
    if report.text_encoder:
        lines.append(f"(official text encoder counted: {report.text_encoder})")
    with_te, without = report.ratios()
    with_text = f"{with_te:.2f}" if with_te is not None else "n/a"
    lines += ["", f"official/project FLOPs ratio: {with_text} (with text encoder), {without:.2f} (without)"]
    return "\n".join(lines)
