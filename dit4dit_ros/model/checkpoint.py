"""Checkpoint directories: everything an engine needs to reproduce the trained policy, and nothing else.

Layout of one directory:
  model.safetensors      all weights of DiT4DiT (video transformer, VAE, action DiT)
  config.json            DiT4DiTConfig.to_dict() (sizes, layout, modes)
  normalization.json     NormalizationStats (raw-unit state/action statistics)
  prompt_embeddings.safetensors  optional: cached prompt embeddings (PromptEmbeddingCache.save)

Loading validates every file and reports problems with the file name and what was expected: a truncated
download or a checkpoint from another preset must fail loudly, not load half the weights.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from dit4dit_ros.model.normalization import NormalizationStats

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
NORMALIZATION_FILE = "normalization.json"
PROMPT_CACHE_FILE = "prompt_embeddings.safetensors"  # = model.prompt_cache.FILENAME
_LIST_LIMIT = 8


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not match the configuration."""


def _short(names: list[str]) -> str:
    head = ", ".join(names[:_LIST_LIMIT])
    return head + (f", ... ({len(names)} in all)" if len(names) > _LIST_LIMIT else "")


def save_checkpoint(directory: str | os.PathLike, model: torch.nn.Module, normalization: NormalizationStats,
                    prompt_cache: Any = None) -> Path:
    """Write model weights, config, normalization stats (+ prompt cache) into `directory` (created if needed)."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # Write to a temporary name then rename: a crash mid-save never leaves a truncated model.safetensors.
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "producer": "dit4dit_ros"})
    os.replace(tmp, out / WEIGHTS_FILE)
    (out / CONFIG_FILE).write_text(json.dumps(model.cfg.to_dict(), indent=1))
    normalization.save(out / NORMALIZATION_FILE)
    if prompt_cache is not None:
        prompt_cache.save(out / PROMPT_CACHE_FILE)
    log.info("saved checkpoint to %s (%d tensors)", out, len(state))
    return out


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a checkpoint directory needs {what}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); expected {what}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object with {what}, got {type(data).__name__}")
    return data


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; a truncated or foreign file is a CheckpointError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected the model weights (safetensors)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: cannot read safetensors ({exc}); the file is truncated or not a safetensors file "
            f"({path.stat().st_size} bytes on disk)") from exc


def check_state_dict(path: Path, model: torch.nn.Module, state: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Raise a CheckpointError listing missing keys, unexpected keys and shape mismatches against `model`
    (only its keys that start with `prefix`, e.g. "video." when one branch is loaded)."""
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
             for k in sorted(set(expected) & set(state)) if tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys: {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_short(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {_short(wrong)}")
    if problems:
        raise CheckpointError(f"{path}: weights do not match the model of {CONFIG_FILE}; " + "; ".join(problems))


def read_checkpoint_meta(directory: str | os.PathLike):
    """-> (DiT4DiTConfig, NormalizationStats, PromptEmbeddingCache or None), validated, without the weights.

    What an exported engine needs besides its graphs (they carry the weights)."""
    from dit4dit_ros.model.dit4dit import DiT4DiTConfig

    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"checkpoint directory {root} does not exist")
    cfg_path = root / CONFIG_FILE
    try:
        cfg = DiT4DiTConfig.from_dict(read_json(cfg_path, "the model configuration (DiT4DiTConfig)"))
    except (TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{cfg_path}: invalid model configuration: {exc}") from exc
    norm_path = root / NORMALIZATION_FILE
    try:
        normalization = NormalizationStats.from_dict(read_json(norm_path, "normalization statistics"))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{norm_path}: bad normalization statistics: {exc}") from exc
    if normalization.state.size != cfg.layout.num_state_joints or normalization.action.size != cfg.layout.num_action_joints:
        raise CheckpointError(
            f"{norm_path}: stats have {normalization.state.size} state / {normalization.action.size} action features, "
            f"the layout in {CONFIG_FILE} has {cfg.layout.num_state_joints} / {cfg.layout.num_action_joints} joints")

    prompt_cache = None
    cache_path = root / PROMPT_CACHE_FILE
    if cache_path.exists():
        from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

        try:
            prompt_cache = PromptEmbeddingCache.load(cache_path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{cache_path}: cannot read the prompt cache: {exc}") from exc
    return cfg, normalization, prompt_cache


def load_checkpoint(directory: str | os.PathLike, device: str | torch.device = "cpu"):
    """-> (model in eval mode, DiT4DiTConfig, NormalizationStats, PromptEmbeddingCache or None)."""
    from dit4dit_ros.model.dit4dit import DiT4DiT

    cfg, normalization, prompt_cache = read_checkpoint_meta(directory)
    model = DiT4DiT(cfg, load_weights=False)  # weights come from the file, never from video.weights_dir
    weights_path = Path(directory) / WEIGHTS_FILE
    state = read_weights(weights_path)
    check_state_dict(weights_path, model, state)
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, cfg, normalization, prompt_cache


def load_weights_into(model: torch.nn.Module, directory: str | os.PathLike) -> Path:
    """Copy a checkpoint directory's weights into `model` (fine-tuning starts); names and shapes must match.
    Returns the weights file read."""
    path = Path(directory) / WEIGHTS_FILE
    state = read_weights(path)
    check_state_dict(path, model, state)
    model.load_state_dict(state)
    return path
