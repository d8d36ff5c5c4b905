"""`dit4dit import-official`: an official DiT4DiT release -> a runnable checkpoint directory of this project.

Inputs: the release's weights (its state_dict names, model/official_import.py), the Cosmos-Predict2.5 diffusers
directory it was built on (the transformer/VAE configurations; the VAE or transformer weights when the release file
leaves them out; the text encoder by default), the release's `dataset_statistics.json` (official layout:
<run>/dataset_statistics.json next to <run>/checkpoints/<file>), and the instructions to embed. Output: config.json
(the preset with the directory's sizes and the official latent normalisation), model.safetensors (the state
encoder adapted to this project's state layout, model/official_layout.py), normalization.json (the arm joints'
statistics), prompt_embeddings.safetensors, and import.json recording where everything came from.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)
IMPORT_RECORD = "import.json"


def diffusers_kwargs(cls: Any, directory: str | os.PathLike, subfolder: str) -> dict[str, Any]:
    """The constructor arguments a diffusers model directory's config.json holds (no bookkeeping keys)."""
    path = Path(directory) / subfolder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; --cosmos must be a diffusers-format Cosmos-Predict2.5 directory "
                                f"with transformer/ and vae/ subfolders")
    config = json.loads(path.read_text())
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    return {k: v for k, v in config.items() if k in accepted}


def release_config(preset: str, cosmos_dir: str | os.PathLike, control_period: Optional[float] = None) -> Any:
    """The preset with the Cosmos directory's transformer/VAE sizes, the official latent normalisation and the
    official G1 arms layout; validated."""
    from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

    from dit4dit_ros.model.dit4dit import DiT4DiTConfig, load_preset
    from dit4dit_ros.model.official_layout import g1_layout

    data = load_preset(preset).to_dict()
    data["video"]["transformer"] = diffusers_kwargs(CosmosTransformer3DModel, cosmos_dir, "transformer")
    data["video"]["vae"] = diffusers_kwargs(AutoencoderKLWan, cosmos_dir, "vae")
    data["video"]["latent_norm"] = "official"  # official checkpoints were trained with z = (x - mean) * std
    data["video"]["weights_dir"] = None  # the weights live in the checkpoint directory from now on
    period = control_period if control_period is not None else data["layout"]["control_period"]
    data["layout"] = g1_layout(period).to_dict()
    data["name"] = f"{data['name']}-official-import"
    return DiT4DiTConfig.from_dict(data)


def _fill_from_cosmos(ours: dict[str, torch.Tensor], cosmos_dir: str | os.PathLike) -> list[str]:
    """Video parts the release file leaves out (e.g. the frozen VAE) are taken from the Cosmos directory."""
    from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

    filled = []
    for part, cls in (("transformer", CosmosTransformer3DModel), ("vae", AutoencoderKLWan)):
        prefix = f"video.{part}."
        if any(k.startswith(prefix) for k in ours):
            continue
        module = cls.from_pretrained(os.fspath(cosmos_dir), subfolder=part, local_files_only=True)
        ours.update({prefix + k: v for k, v in module.state_dict().items()})
        filled.append(part)
    return filled


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def import_release(checkpoint_file: str | os.PathLike, cosmos_dir: str | os.PathLike, instructions: Sequence[str],
                   out: str | os.PathLike, text_encoder: Optional[str] = None,
                   statistics: Optional[str | os.PathLike] = None, unnorm_key: Optional[str] = None,
                   preset: str = "cosmos-predict2.5-2b", control_period: Optional[float] = None,
                   gripper_state: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """Write a runnable checkpoint directory to `out`; returns the import record (also saved as import.json)."""
    from dit4dit_ros.model.checkpoint import check_state_dict, save_checkpoint
    from dit4dit_ros.model.dit4dit import DiT4DiT
    from dit4dit_ros.model.official_import import official_to_ours, read_official_state_dict
    from dit4dit_ros.model.official_layout import (adapt_state_encoder, g1_normalization, gripper_means,
                                                   read_dataset_statistics)
    from dit4dit_ros.model.text_encoder import embed_prompts

    if not instructions:
        raise ValueError("give at least one instruction to embed (--instruction)")
    source = Path(checkpoint_file)
    stats_path = Path(statistics) if statistics else source.resolve().parents[1] / "dataset_statistics.json"
    tag, block = read_dataset_statistics(stats_path, unnorm_key)
    cfg = release_config(preset, cosmos_dir, control_period)
    ours, report = official_to_ours(read_official_state_dict(source))
    if report.unknown:
        raise ValueError(f"{source}: {len(report.unknown)} keys with no counterpart in this model, e.g. "
                         f"{report.unknown[:5]}; is it a DiT4DiT release?")
    filled = _fill_from_cosmos(ours, cosmos_dir)
    grippers = np.asarray(gripper_state if gripper_state is not None else gripper_means(block), dtype=np.float64)
    w, b = "action.state_encoder.layer1.weight", "action.state_encoder.layer1.bias"
    if w not in ours or b not in ours:
        raise ValueError(f"{source}: no action_model.state_encoder.layer1: the release has no state input")
    ours[w], ours[b] = adapt_state_encoder(ours[w], ours[b], grippers)
    model = DiT4DiT(cfg, load_weights=False)
    check_state_dict(source, model, ours)
    model.load_state_dict(ours, strict=True)
    cache = embed_prompts(text_encoder or os.fspath(cosmos_dir), instructions, None,
                          max_length=cfg.video.prompt_max_length)
    if cache.shape[1] != cfg.video.prompt_embed_dim:
        raise ValueError(f"text encoder {cache.encoder_id} gives {cache.shape[1]}-channel embeddings; the transformer's "
                         f"cross-attention projection takes {cfg.video.prompt_embed_dim}")
    out_dir = save_checkpoint(out, model.eval(), g1_normalization(block, f"{stats_path} [{tag}]"), cache)
    record = {
        "source": {"file": str(source), "sha256": _sha256(source), "cosmos_dir": os.fspath(cosmos_dir),
                   "statistics": str(stats_path), "unnorm_key": tag},
        "preset": preset, "mapped_tensors": report.mapped, "dropped": report.dropped, "filled_from_cosmos": filled,
        "gripper_state_folded": grippers.tolist(), "text_encoder": cache.encoder_id,
        "instructions": cache.instructions,
    }
    (out_dir / IMPORT_RECORD).write_text(json.dumps(record, indent=1))
    log.info("imported %s -> %s (%d tensors, filled from Cosmos: %s)", source, out_dir, report.mapped, filled)
    return record
