"""Load the official DiT4DiT release's weights into our DiT4DiT module.

Official layout (docs/method.md, "Official state_dict layout"):
  backbone_interface.extractor.transformer.*   diffusers CosmosTransformer3DModel  -> video.transformer.*
  backbone_interface.extractor.vae.*           diffusers AutoencoderKLWan          -> video.vae.*
  backbone_interface.extractor.text_encoder.*  the Cosmos-Reason1 VLM              -> dropped (prompts are cached;
                                                                                     embed them with that encoder)
  action_model.{model,state_encoder,action_encoder,action_decoder,position_embedding}.*  -> action.*

Our action DiT keeps the official submodule names, so the mapping is a prefix rename with one exception: the
official AdaLayerNorm splits its projection as (scale, shift) while diffusers' AdaLayerNorm (ours, chunk_dim=1)
splits it as (shift, scale), so the two halves of every `norm1.linear` weight and bias are swapped.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

log = logging.getLogger(__name__)

OFFICIAL_VIDEO_PREFIX = "backbone_interface.extractor."
OFFICIAL_ACTION_PREFIX = "action_model."
OURS_VIDEO_PREFIX = "video."
OURS_ACTION_PREFIX = "action."
_VIDEO_PARTS = ("transformer.", "vae.")
_DROPPED_PREFIXES = (OFFICIAL_VIDEO_PREFIX + "text_encoder.",)


@dataclass
class ImportReport:
    mapped: int = 0
    dropped: list[str] = field(default_factory=list)  # official keys we deliberately do not use
    unknown: list[str] = field(default_factory=list)  # official keys with no counterpart


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """(scale, shift) <-> (shift, scale) along dim 0 of an AdaLN projection weight/bias."""
    half = t.shape[0] // 2
    return torch.cat([t[half:], t[:half]], dim=0)


def _is_adaln(name: str) -> bool:
    return ".transformer_blocks." in name and ".norm1.linear." in name


def _is_identity_norm3(name: str, t: torch.Tensor) -> bool:
    """Official norm3 LayerNorm affine params (if the release has them) that equal identity can be dropped."""
    if not (name.startswith(OFFICIAL_ACTION_PREFIX + "model.transformer_blocks.") and ".norm3." in name):
        return False
    target = torch.ones_like(t) if name.endswith(".weight") else torch.zeros_like(t)
    return bool(torch.equal(t, target))


def official_to_ours(official: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], ImportReport]:
    """Rename an official state_dict to ours; returns (state_dict, report of dropped/unknown keys)."""
    out: dict[str, torch.Tensor] = {}
    report = ImportReport()
    for name, t in official.items():
        if name.startswith(_DROPPED_PREFIXES) or _is_identity_norm3(name, t):
            report.dropped.append(name)
            continue
        if name.startswith(OFFICIAL_VIDEO_PREFIX) and name[len(OFFICIAL_VIDEO_PREFIX):].startswith(_VIDEO_PARTS):
            out[OURS_VIDEO_PREFIX + name[len(OFFICIAL_VIDEO_PREFIX):]] = t
        elif name.startswith(OFFICIAL_ACTION_PREFIX):
            ours = OURS_ACTION_PREFIX + name[len(OFFICIAL_ACTION_PREFIX):]
            out[ours] = _swap_halves(t) if _is_adaln(ours) else t
        else:
            report.unknown.append(name)
            continue
        report.mapped += 1
    return out, report


def ours_to_official(ours: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse mapping (our state_dict in the official names): for tests and for exporting back."""
    out: dict[str, torch.Tensor] = {}
    for name, t in ours.items():
        if name.startswith(OURS_VIDEO_PREFIX):
            out[OFFICIAL_VIDEO_PREFIX + name[len(OURS_VIDEO_PREFIX):]] = t
        elif name.startswith(OURS_ACTION_PREFIX):
            out[OFFICIAL_ACTION_PREFIX + name[len(OURS_ACTION_PREFIX):]] = _swap_halves(t) if _is_adaln(name) else t
        else:
            raise ValueError(f"state_dict key {name!r} is neither under 'video.' nor 'action.'")
    return out


def read_official_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A release file (.safetensors, or a torch .pt/.pth/.bin, optionally wrapped in {"state_dict"|"model": ...})."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file; expected the official DiT4DiT weights")
    if p.suffix == ".safetensors":
        from dit4dit_ros.model.checkpoint import read_weights

        return read_weights(p)
    try:
        data: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or pickled-object files
        raise ValueError(f"{p}: cannot read as a torch state_dict ({exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and key in data and isinstance(data[key], dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{p}: expected a mapping of parameter names to tensors")
    return data


def load_official_into(model: torch.nn.Module, official: Mapping[str, torch.Tensor] | str | os.PathLike,
                       strict: bool = True) -> ImportReport:
    """Load official weights into our DiT4DiT `model` (built from a matching config, e.g. the 2B preset with
    latent_norm "official"). Unknown official keys are an error when `strict`; shapes are always checked."""
    from dit4dit_ros.model.checkpoint import check_state_dict

    sd = official if isinstance(official, Mapping) else read_official_state_dict(official)
    ours, report = official_to_ours(sd)
    if report.unknown and strict:
        shown = ", ".join(report.unknown[:8])
        raise ValueError(f"official state_dict has {len(report.unknown)} keys with no counterpart: {shown}"
                         f"{' ...' if len(report.unknown) > 8 else ''} (pass strict=False to skip them)")
    check_state_dict(Path("<official state_dict>"), model, ours)
    model.load_state_dict(ours, strict=True)
    log.info("imported %d official tensors (%d dropped, %d unknown skipped)", report.mapped, len(report.dropped),
             len(report.unknown))
    return report
