"""DiT4DiT: the hooked video DiT conditioning the flow-matching action DiT, as one module with one config.

Training modes (docs/method.md): "joint" trains both branches (video loss + action loss), "video" only the video
branch, "action" only the action branch on a frozen backbone. In every mode the action branch reads DETACHED
visual tokens taken at the feature time tau_f, so the action loss never shapes the video trunk directly.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from dit4dit_ros.model.action_dit import ActionDiT, ActionDiTConfig
from dit4dit_ros.model.normalization import RobotLayout
from dit4dit_ros.model.video_backbone import VideoBackbone, VideoBackboneConfig
from dit4dit_ros.utils.config_dict import dataclass_from_dict

MODES = ("joint", "video", "action")
PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")


@dataclass
class TrainingDefaults:
    """Optimiser/schedule defaults that travel with a preset (the trainer may override them from the CLI).

    Official G1 values: AdamW betas (0.9, 0.95), eps 1e-8, weight decay 1e-8; lr base/backbone 1e-5, action 1e-4;
    cosine to 5e-7 after 5000 warmup steps, 100k steps, grad clip 1.0, bf16.
    """

    backbone_lr: float = 1e-5
    action_lr: float = 1e-4
    min_lr: float = 5e-7
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 1e-8
    warmup_steps: int = 5000
    max_steps: int = 100_000
    grad_clip: float = 1.0
    batch_size: int = 8
    precision: str = "bf16"

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"training.betas must be two values in [0, 1), got {self.betas}")
        for name in ("backbone_lr", "action_lr", "eps", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"training.{name} must be > 0, got {getattr(self, name)}")
        if self.min_lr < 0 or self.weight_decay < 0:
            raise ValueError("training.min_lr and training.weight_decay must be >= 0")
        if self.warmup_steps < 0 or self.max_steps < 1 or self.batch_size < 1:
            raise ValueError("training.warmup_steps >= 0, max_steps >= 1 and batch_size >= 1 are required")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"training.precision must be 'fp32' or 'bf16', got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainingDefaults":
        return dataclass_from_dict(cls, d, "training config")


@dataclass
class DiT4DiTConfig:
    video: VideoBackboneConfig
    action: ActionDiTConfig
    layout: RobotLayout = field(default_factory=RobotLayout)
    mode: str = "joint"
    video_loss_weight: float = 1.0
    action_loss_weight: float = 1.0
    training: TrainingDefaults = field(default_factory=TrainingDefaults)
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.video_loss_weight < 0 or self.action_loss_weight < 0:
            raise ValueError("video_loss_weight and action_loss_weight must be >= 0")
        if self.layout.encoded_state_width > self.action.state_dim:
            raise ValueError(
                f"layout encodes {self.layout.encoded_state_width} state values, more than action.state_dim"
                f" {self.action.state_dim}"
            )
        if self.layout.num_action_joints > self.action.action_dim:
            raise ValueError(
                f"layout has {self.layout.num_action_joints} action joints, more than action.action_dim"
                f" {self.action.action_dim}"
            )
        if self.action.context_tokens and self.action.context_tokens != self.video.num_tokens:
            raise ValueError(
                f"action.context_tokens ({self.action.context_tokens}) must be 0 or the video backbone's token count"
                f" {self.video.num_tokens} (num_frames, image_size and patch size set it)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "video_loss_weight": float(self.video_loss_weight),
            "action_loss_weight": float(self.action_loss_weight),
            "video": self.video.to_dict(),
            "action": self.action.to_dict(),
            "layout": self.layout.to_dict(),
            "training": self.training.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiT4DiTConfig":
        for section in ("video", "action"):
            if isinstance(d, dict) and section not in d:
                raise ValueError(f"DiT4DiT config needs a {section!r} section")
        nested = {"video": VideoBackboneConfig.from_dict, "action": ActionDiTConfig.from_dict,
                  "layout": RobotLayout.from_dict, "training": TrainingDefaults.from_dict}
        return dataclass_from_dict(cls, d, "top-level config", nested)


def available_presets() -> list[str]:
    return sorted(f[: -len(".yaml")] for f in os.listdir(PRESETS_DIR) if f.endswith(".yaml"))


def load_preset(name: Union[str, os.PathLike], **overrides: Any) -> DiT4DiTConfig:
    """A preset by name (`tiny`, `small`, `cosmos-predict2.5-2b`) or a path to a preset YAML file, validated.

    `overrides` replace top-level fields (e.g. mode="action"); `video_weights_dir=...` sets video.weights_dir.
    """
    import yaml

    path = os.fspath(name)
    if not path.endswith((".yaml", ".yml")):
        if path not in available_presets():
            raise ValueError(f"unknown preset {path!r}; available: {available_presets()} (or a path to a .yaml)")
        path = os.path.join(PRESETS_DIR, path + ".yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"preset file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"preset {path!r} must be a YAML mapping")
    data.pop("description", None)
    weights_dir = overrides.pop("video_weights_dir", None)
    if weights_dir is not None:
        data.setdefault("video", {})["weights_dir"] = os.fspath(weights_dir)
    data.update(overrides)
    try:
        return DiT4DiTConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid preset {path!r}: {e}") from e


class DiT4DiT(nn.Module):
    """Video backbone + action DiT with `loss(batch)` for training and `predict(obs)` for inference."""

    def __init__(self, cfg: DiT4DiTConfig, load_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.video = VideoBackbone(cfg.video, load_weights=load_weights)
        self.action = ActionDiT(cfg.action, cross_attention_dim=self.video.hidden_size)
        self.set_mode(cfg.mode)

    @property
    def mode(self) -> str:
        return self.cfg.mode

    def set_mode(self, mode: str) -> None:
        """Freeze what the mode does not train (the VAE is always frozen)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.cfg.mode = mode
        self.video.transformer.requires_grad_(mode != "action")
        self.action.requires_grad_(mode != "video")

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters per learning-rate group ("backbone", "action"); frozen ones are left out."""
        return {
            "backbone": [p for p in self.video.transformer.parameters() if p.requires_grad],
            "action": [p for p in self.action.parameters() if p.requires_grad],
        }

    # ---- training -------------------------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor], generator: Optional[torch.Generator] = None) -> dict[str, torch.Tensor]:
        """{"video", "action", "total"}; a loss the mode does not train is a zero tensor (not in the graph)."""
        for key in ("video", "prompt_embeds"):
            if key not in batch:
                raise KeyError(f"DiT4DiT.loss: batch lacks {key!r}; got keys {sorted(batch)}")
        video, prompt = batch["video"], batch["prompt_embeds"]
        zero = torch.zeros((), device=video.device)
        if self.mode == "action":
            cond = video[:, : self.cfg.video.num_cond_frames]
            video_loss, feats = zero, self.video.features(cond, prompt, generator=generator)
        else:
            video_loss, feats = self.video.training_forward(
                video, prompt, generator=generator, with_features=self.mode == "joint"
            )
        if self.mode == "video":
            action_loss = zero
        else:
            for key in ("state", "action", "action_mask"):
                if key not in batch:
                    raise KeyError(f"DiT4DiT.loss: mode {self.mode!r} needs batch[{key!r}]; got keys {sorted(batch)}")
            assert feats is not None
            action_loss = self.action.loss(
                feats.detach(), batch["state"], batch["action"], batch["action_mask"], generator=generator
            )
        total = self.cfg.video_loss_weight * video_loss + self.cfg.action_loss_weight * action_loss
        return {"video": video_loss, "action": action_loss, "total": total}

    # ---- inference ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self,
        obs: dict[str, Any],
        generator: Optional[torch.Generator] = None,
        num_steps: Optional[int] = None,
        video_noise: Optional[torch.Tensor] = None,
        action_noise: Optional[torch.Tensor] = None,
        on_stage: Optional[Callable[[str], None]] = None,
    ) -> torch.Tensor:
        """obs {"frames" (B,Tc,3,H,W) [0,1], "state" (B,state_dim), and "prompt_embeds" (B,L,C) or their
        "text_kv" (`VideoBackbone.text_conditioning`)} -> normalised chunk (B,H,action_dim).

        The initial noise of each branch can be given (`video_noise`: the future latent frames,
        `VideoBackbone.future_noise_shape`; `action_noise`: (B,H,action_dim)); what is not given is drawn from
        `generator`, video first. Runs in eval mode (no dropout) whatever the module's mode, restoring it
        afterwards; with the same seeded generator the chunk is bit-identical. `on_stage(name)` is called after each
        stage ("vae_encode", "video_trunk", "action_context", "action_step_<i>").
        """
        for key in ("frames", "state"):
            if key not in obs:
                raise KeyError(f"DiT4DiT.predict: obs lacks {key!r}; got keys {sorted(obs)}")
        if ("prompt_embeds" in obs) == ("text_kv" in obs):
            raise KeyError(f"DiT4DiT.predict: obs needs exactly one of 'prompt_embeds' and 'text_kv'; "
                           f"got keys {sorted(obs)}")
        was_training = self.training
        if was_training:  # switching modes walks every submodule: only when needed (the engines stay in eval)
            self.eval()
        try:
            feats = self.video.features(obs["frames"], obs.get("prompt_embeds"), generator=generator,
                                        text_kv=obs.get("text_kv"), noise=video_noise, on_stage=on_stage)
            return self.action.sample(feats, obs["state"].to(feats.dtype), num_steps=num_steps, generator=generator,
                                      noise=action_noise, on_stage=on_stage)
        finally:
            if was_training:
                self.train(True)
