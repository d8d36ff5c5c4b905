"""Configuration of the video branch (Cosmos-Predict2.5 transformer + Wan VAE): sizes, conventions, and the
quantities derived from them (latent grid, token count, feature time) that the data pipeline, the engines and the
benches all read from here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from dit4dit_ros.utils.config_dict import dataclass_from_dict

LATENT_NORMS = ("pipeline", "official")
TIME_SAMPLINGS = ("logit_normal", "uniform")
REQUIRED_TRANSFORMER_KEYS = ("in_channels", "num_attention_heads", "attention_head_dim", "num_layers")


@dataclass
class VideoBackboneConfig:
    """Video branch configuration.

    transformer / vae: keyword arguments of `CosmosTransformer3DModel` / `AutoencoderKLWan` (diffusers 0.42.1).
    latent_norm: "pipeline" z = (x - mean) / std (diffusers; for models trained from scratch) or "official"
      z = (x - mean) * std (what the official DiT4DiT code does; use it with imported official weights).
    num_frames: pixel frames of a training clip (1 + 4k); num_cond_frames: leading observation frames (1 + 4k).
    frame_stride: raw recorded frames between two clip frames (`action_video_freq_ratio`).
    weights_dir: a local diffusers-format directory with transformer/ and vae/ subfolders (never downloaded).
    """

    transformer: dict[str, Any]
    vae: dict[str, Any] = field(default_factory=dict)
    extract_layer: int = 17
    image_size: tuple[int, int] = (224, 224)
    num_frames: int = 9
    num_cond_frames: int = 1
    frame_stride: int = 2
    latent_norm: str = "pipeline"
    sigma_max: float = 200.0
    conditional_frame_timestep: float = 1e-4
    time_sampling: str = "logit_normal"
    time_mean: float = 0.0
    time_std: float = 1.0
    high_sigma_ratio: float = 0.05
    high_sigma_min: float = 0.98
    prompt_max_length: int = 512
    weights_dir: Optional[str] = None
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        self.transformer = dict(self.transformer)
        self.vae = dict(self.vae)
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        missing = [k for k in REQUIRED_TRANSFORMER_KEYS if k not in self.transformer]
        if missing:
            raise ValueError(f"video.transformer is missing {missing} (CosmosTransformer3DModel kwargs)")
        if self.transformer["in_channels"] != self.latent_channels + 1:
            raise ValueError(
                f"video.transformer.in_channels must be vae z_dim + 1 (condition mask) = {self.latent_channels + 1},"
                f" got {self.transformer['in_channels']}"
            )
        if not 0 <= self.extract_layer < self.num_layers:
            raise ValueError(f"video.extract_layer must be in [0, {self.num_layers - 1}], got {self.extract_layer}")
        if len(self.image_size) != 2:
            raise ValueError(f"video.image_size must be (height, width), got {self.image_size}")
        multiple = self.spatial_factor * self.patch_size[1]
        if any(s <= 0 or s % multiple for s in self.image_size):
            raise ValueError(f"video.image_size {self.image_size} must be positive multiples of {multiple}")
        tf = self.temporal_factor
        for name in ("num_frames", "num_cond_frames"):
            value = getattr(self, name)
            if value < 1 or (value - 1) % tf:
                raise ValueError(f"video.{name} must be 1 + {tf}k (causal VAE chunks), got {value}")
        if self.num_cond_frames >= self.num_frames:
            raise ValueError(
                f"video.num_cond_frames ({self.num_cond_frames}) must be < num_frames ({self.num_frames}):"
                " the video loss needs future frames"
            )
        if self.frame_stride < 1:
            raise ValueError(f"video.frame_stride must be >= 1, got {self.frame_stride}")
        if self.latent_norm not in LATENT_NORMS:
            raise ValueError(f"video.latent_norm must be one of {LATENT_NORMS}, got {self.latent_norm!r}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"video.time_sampling must be one of {TIME_SAMPLINGS}, got {self.time_sampling!r}")
        if self.sigma_max <= 0:
            raise ValueError(f"video.sigma_max must be > 0, got {self.sigma_max}")
        if not 0.0 <= self.conditional_frame_timestep < 1.0:
            raise ValueError(f"video.conditional_frame_timestep must be in [0, 1), got {self.conditional_frame_timestep}")
        if self.prompt_max_length < 1:
            raise ValueError(f"video.prompt_max_length must be >= 1, got {self.prompt_max_length}")

    # Derived quantities (single source of truth for the data pipeline, the engine and the benches).
    @property
    def num_layers(self) -> int:
        return int(self.transformer["num_layers"])

    @property
    def hidden_size(self) -> int:
        return int(self.transformer["num_attention_heads"]) * int(self.transformer["attention_head_dim"])

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.transformer.get("patch_size", (1, 2, 2)))  # type: ignore[return-value]

    @property
    def latent_channels(self) -> int:
        return int(self.vae.get("z_dim", 16))

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(bool(d) for d in self.vae.get("temperal_downsample", (False, True, True)))

    @property
    def spatial_factor(self) -> int:
        return 2 ** len(self.vae.get("temperal_downsample", (False, True, True)))

    @property
    def tau_f(self) -> float:
        """Feature time: the first flow sigma of the pipeline's UniPC scheduler, sigma_max / (1 + sigma_max)."""
        return self.sigma_max / (1.0 + self.sigma_max)

    @property
    def num_latent_frames(self) -> int:
        return (self.num_frames - 1) // self.temporal_factor + 1

    @property
    def num_cond_latent_frames(self) -> int:
        return (self.num_cond_frames - 1) // self.temporal_factor + 1

    @property
    def latent_size(self) -> tuple[int, int]:
        return (self.image_size[0] // self.spatial_factor, self.image_size[1] // self.spatial_factor)

    @property
    def tokens_per_latent_frame(self) -> int:
        h, w = self.latent_size
        return (h // self.patch_size[1]) * (w // self.patch_size[2])

    @property
    def num_tokens(self) -> int:
        """Visual tokens handed to the action branch: all latent frames (future ones are noise at tau_f)."""
        return self.num_latent_frames * self.tokens_per_latent_frame

    @property
    def prompt_embed_dim(self) -> int:
        """Feature width of the cached prompt embeddings the transformer expects."""
        if self.transformer.get("use_crossattn_projection", False):
            return int(self.transformer.get("crossattn_proj_in_channels", 1024))
        return int(self.transformer.get("text_embed_dim", 1024))

    @property
    def frame_offsets(self) -> list[int]:
        """Raw-frame offsets of a training clip relative to the observation (the `video_delta_indices` subsampled)."""
        return [i * self.frame_stride for i in range(self.num_frames)]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return _lists(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VideoBackboneConfig":
        return dataclass_from_dict(cls, d, "video config")


def _lists(value: Any) -> Any:
    """Tuples -> lists recursively so that configs compare equal after a JSON/YAML round trip."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value
