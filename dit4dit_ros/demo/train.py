"""Training recipe for the simulated reach demo: the `small` preset on collect-sim data, CPU-sized.

What this adds on top of model/train.py (which it calls unchanged):
- the model config: the `small` preset with the dataset's layout (its G1 channels, e.g. arms + grippers) and
  control period (1 / fps), so that engines space chunk points like the demonstrations;
- `DemoTrainDataset`: the data area's LeRobot reader configured from the model config (frames f, f+2, ...,
  f+16 -> 9 frames; 16 actions; 64x64), every decoded frame kept in memory (a few tens of MB for a demo set),
  and the task text mapped to its cached prompt embedding (the trainer wants tensors only);
- a prompt cache from the `tiny-random:<seed>` text encoder (no multi-GB Qwen2.5-VL here), saved with every
  checkpoint so engines can look the instruction up;
- latent normalisation calibrated on the dataset (`calibrate_latent_normalization`): the demo VAE is random, so
  the preset's mean 0 / std 1 is wrong for it (its latents have a std of ~0.1, the cube moves them by ~0.01).
  Diffusion noise would drown the video signal and the action DiT would see a tiny cube signal; the real
  Cosmos VAE ships calibrated statistics in exactly these config fields.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)
DEFAULT_ENCODER = "tiny-random:0"


def demo_model_config(dataset_root: Path | str, preset: str = "small", **overrides: Any):
    """The preset's DiT4DiTConfig with the dataset's layout: its channels (e.g. arms, or arms + grippers for
    pick-and-place) and control period 1 / fps."""
    from dit4dit_ros.data.dataset_layout import layout_for_dataset
    from dit4dit_ros.model.dit4dit import load_preset

    cfg = load_preset(preset, **overrides)
    cfg.layout = layout_for_dataset(dataset_root, cfg.layout)
    return cfg


def reader_config(cfg: Any, cache_frames: int = 100_000):
    """LeRobotReaderConfig matching the model: video window, horizon, image size, padded widths, layout."""
    from dit4dit_ros.data.lerobot_dataset import LeRobotReaderConfig

    v, a = cfg.video, cfg.action
    span = (v.num_frames - 1) * v.frame_stride + 1
    return LeRobotReaderConfig(video_delta_indices=tuple(range(span)), video_subsample=v.frame_stride,
                               action_horizon=a.horizon, image_size=tuple(v.image_size), state_dim=a.state_dim,
                               action_dim=a.action_dim, layout=cfg.layout, cache_frames=cache_frames)


class DemoTrainDataset(Dataset):
    """model.train.TrainDataset over a LeRobot dataset: the reader's sample + "prompt_embeds", tensors only."""

    KEYS = ("video", "state", "action", "action_mask")

    def __init__(self, root: Path | str, cfg: Any, prompt_cache: Any, episodes=None, state_noise: float = 0.0) -> None:
        from dit4dit_ros.data.lerobot_dataset import LeRobotDataset

        if state_noise < 0:
            raise ValueError(f"state_noise must be >= 0 (std of the state noise, radians), got {state_noise}")
        self.state_noise = float(state_noise)
        self.state_width = cfg.layout.encoded_state_width
        self.reader = LeRobotDataset(root, reader_config(cfg), episodes=episodes)
        missing = [t for t in self.reader.tasks.values() if t not in prompt_cache]
        if missing:
            raise ValueError(f"the prompt cache has no embedding for the dataset's task(s) {missing}; "
                             f"it has {prompt_cache.instructions}")
        self._prompts = {t: torch.as_tensor(prompt_cache.get(t)).float() for t in self.reader.tasks.values()}
        self.normalization = self.reader.stats

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.reader[i]
        out = {k: item[k] for k in self.KEYS}
        if self.state_noise > 0:
            # Gaussian noise on the encoded joint state (with the sin/cos encoding, for a small std, the same as
            # noise of that std in radians on the joint angles). Without it the policy copies the arm's progress
            # along the demonstrated path from the state (in a scripted reach the arm's position says where the
            # cube is) instead of looking at the image; once its first move is off, it continues the wrong path.
            # Padding dims stay zero.
            state = out["state"].clone()
            state[..., : self.state_width] += self.state_noise * torch.randn_like(state[..., : self.state_width])
            out["state"] = state
        out["prompt_embeds"] = self._prompts[item["task"]]
        return out


def calibrate_latent_normalization(model: Any, dataset: "DemoTrainDataset", samples: int = 64, seed: int = 0) -> None:
    """Measure the video backbone's latent mean/std on `samples` random dataset clips (see
    VideoBackbone.calibrate_latent_statistics); every checkpoint's config.json then carries them."""
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[: samples].tolist()
    model.video.calibrate_latent_statistics(torch.stack([dataset.reader[i]["video"] for i in idx]))


def _checkpoint_latent_normalization(ckpt: Path | None) -> dict | None:
    """latents_mean/std of a checkpoint (its config.json), or None if there is none."""
    if ckpt is None or not (ckpt / "config.json").is_file():
        return None
    vae = json.loads((ckpt / "config.json").read_text())["video"]["vae"]
    return {k: vae[k] for k in ("latents_mean", "latents_std")}


def _resumed_latent_normalization(out: Path, resume: str) -> dict | None:
    """latents_mean/std of the checkpoint a resume will load, or None if there is none."""
    from dit4dit_ros.model.train import latest_checkpoint

    return _checkpoint_latent_normalization(latest_checkpoint(out) if resume == "auto" else Path(resume))


# Training/sampling settings that may change between stages (the trainer writes its noise draws per sample).
_STAGE_SETTINGS = {"action.repeated_diffusion_steps", "action.num_inference_steps"}


def _check_same_architecture(cfg: Any, ckpt: Path, sections: tuple[str, ...] = ("video", "action", "layout")) -> None:
    """The run's model config must be the checkpoint's, bar the mode, the losses' weights and _STAGE_SETTINGS:
    equal tensor shapes alone would let e.g. another hooked block or control period through, and the head would
    read other features. Call after the checkpoint's latent statistics went into `cfg`. `sections`: the parts of
    the config compared (("video",) when only the video branch is taken over)."""
    saved = json.loads((ckpt / "config.json").read_text())
    ours = json.loads(json.dumps(cfg.to_dict()))  # tuples -> lists, as in the saved file
    differing = [f"{section}.{key}" for section in sections
                 for key in sorted(set(ours.get(section, {})) | set(saved.get(section, {})))
                 if f"{section}.{key}" not in _STAGE_SETTINGS
                 and ours.get(section, {}).get(key) != saved.get(section, {}).get(key)]
    if differing:
        raise ValueError(f"init_from {ckpt}: its config.json differs from this run's model config in {differing}; "
                         "start from a checkpoint of the same preset trained on data with the same fps")


def _load_initial_weights(model: Any, ckpt: Path) -> None:
    """Copy a checkpoint's weights (all of them: the random frozen VAE included) into `model`; shapes must match."""
    from dit4dit_ros.model.checkpoint import load_weights_into

    _check_same_architecture(model.cfg, ckpt)
    load_weights_into(model, ckpt)


def _load_video_weights(model: Any, ckpt: Path) -> int:
    """Copy only the video branch (the hooked trunk and the frozen VAE) of a checkpoint into `model`; its action
    head stays freshly initialised. The checkpoint may have another layout (other joints, grippers): the video
    branch never sees it. Its `video` config must be this run's. Returns the number of tensors copied.

    Why: the trunk is the part DiT4DiT takes pretrained (Cosmos); a trunk already trained on this simulator's
    camera (e.g. the shipped reach model) is that prior for a new task on the same robot and scene."""
    from dit4dit_ros.model.checkpoint import WEIGHTS_FILE, check_state_dict, read_weights

    _check_same_architecture(model.cfg, ckpt, sections=("video",))
    path = ckpt / WEIGHTS_FILE
    saved = {k: v for k, v in read_weights(path).items() if k.startswith("video.")}
    check_state_dict(path, model, saved, prefix="video.")  # CheckpointError (a ValueError) on any mismatch
    model.load_state_dict(saved, strict=False)  # load_state_dict casts fp16 files into the fp32 parameters
    return len(saved)


def build_prompt_cache(instructions: list[str], encoder: str, max_length: int, out_path: Path | str | None = None):
    """Prompt embeddings of `instructions` from `encoder` (default the tiny random Qwen2.5-VL)."""
    from dit4dit_ros.model.text_encoder import embed_prompts

    return embed_prompts(encoder, instructions, out_path, max_length=max_length)


@dataclass
class DemoTrainSettings:
    dataset: str
    out: str
    preset: str = "small"
    steps: int = 2000
    batch_size: int = 8
    lr: float | None = None  # None: the preset's per-branch learning rates
    warmup_steps: int | None = 100
    repeated_diffusion_steps: int | None = 4  # extra noise draws for the (cheap) action loss
    action_loss_weight: float | None = None
    state_noise: float = 0.0  # std (radians) of training-time noise on the joint state (see DemoTrainDataset)
    calibrate_latents: bool = True  # latent mean/std from the data (see calibrate_latent_normalization)
    save_every: int = 100
    log_every: int = 10
    encoder: str = DEFAULT_ENCODER
    seed: int = 0
    threads: int | None = None
    resume: str | None = None
    device: str = "cpu"  # "cuda" trains on a GPU (the demo fits any); the checkpoint loads on either
    mode: str | None = None  # joint / video / action; None: the preset's (joint)
    init_from: str | None = None  # a training checkpoint whose weights (and latent statistics) to start from
    init_video_from: str | None = None  # a checkpoint whose video branch (and latent statistics) to start from

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.save_every < 1:
            raise ValueError("steps, batch_size and save_every must be >= 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        from dit4dit_ros.model.dit4dit import MODES

        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        starts = [name for name in ("init_from", "init_video_from", "resume") if getattr(self, name) is not None]
        if len(starts) > 1:
            raise ValueError(f"{' and '.join(starts)} are different starts (init_from: a checkpoint's weights, "
                             "init_video_from: its video branch only, resume: continue a run): give one of them")
        for name in ("init_from", "init_video_from"):
            if getattr(self, name) is None:
                continue
            ckpt = Path(getattr(self, name))
            missing = [f for f in ("config.json", "model.safetensors") if not (ckpt / f).is_file()]
            if missing:
                raise FileNotFoundError(f"{name} {ckpt}: no {', '.join(missing)} (expected a checkpoint "
                                        "directory written by train-demo, e.g. <out>/checkpoints/step_0005000)")


def train_demo(s: DemoTrainSettings):
    """Train the demo policy; returns model.train.TrainResult. Checkpoints: <out>/checkpoints/step_XXXXXXX/."""
    from dit4dit_ros.model.dit4dit import DiT4DiT
    from dit4dit_ros.model.train import TrainConfig, train

    if s.threads:
        torch.set_num_threads(s.threads)
    overrides = {} if s.action_loss_weight is None else {"action_loss_weight": s.action_loss_weight}
    if s.mode is not None:
        overrides["mode"] = s.mode
    cfg = demo_model_config(s.dataset, s.preset, **overrides)
    from dit4dit_ros.data.lerobot_meta import load_dataset_meta

    tasks = list(load_dataset_meta(s.dataset).tasks.values())
    cache = build_prompt_cache(tasks, s.encoder, cfg.video.prompt_max_length)
    dataset = DemoTrainDataset(s.dataset, cfg, cache, state_noise=s.state_noise)
    log.info("demo training: %d samples, %d episodes, control period %.3f s", len(dataset),
             len(dataset.reader._episode_length), cfg.layout.control_period)
    torch.manual_seed(s.seed)  # the random, frozen VAE is part of the model: make it a function of the seed
    if s.init_from or s.init_video_from:  # the trunk's weights were trained with these latent statistics
        resumed = _checkpoint_latent_normalization(Path(s.init_from or s.init_video_from))
    else:
        resumed = _resumed_latent_normalization(Path(s.out), s.resume) if s.resume else None
    if resumed is not None:  # the loaded weights were trained with these statistics, calibrated or not
        cfg.video.vae.update(resumed)
    model = DiT4DiT(cfg, load_weights=False)
    if s.init_from:
        _load_initial_weights(model, Path(s.init_from))
        log.info("initialised from %s (mode %s)", s.init_from, cfg.mode)
    if s.init_video_from:
        n = _load_video_weights(model, Path(s.init_video_from))
        log.info("video branch (%d tensors) from %s, action head new (mode %s)", n, s.init_video_from, cfg.mode)
    if s.calibrate_latents and resumed is None:
        calibrate_latent_normalization(model, dataset, seed=s.seed)
        log.info("latent normalisation from the data: std %s", [round(v, 3) for v in cfg.video.vae["latents_std"]])
    tc = TrainConfig.from_model_defaults(
        cfg, s.out, steps=s.steps, batch_size=s.batch_size, backbone_lr=s.lr, action_lr=s.lr,
        warmup_steps=s.warmup_steps, repeated_diffusion_steps=s.repeated_diffusion_steps, save_every=s.save_every,
        log_every=s.log_every, num_workers=0, seed=s.seed, resume=s.resume, progress=False)
    Path(s.out).mkdir(parents=True, exist_ok=True)
    (Path(s.out) / "demo_train_settings.json").write_text(json.dumps(s.__dict__, indent=1))
    return train(model, dataset, tc, normalization=dataset.normalization, prompt_cache=cache, device=s.device)


def ship_checkpoint(src: Path | str, dst: Path | str, half: bool = True) -> Path:
    """Copy a training checkpoint for inference only: weights (fp16 if `half`: load_checkpoint casts them back
    to the model's fp32 parameters), config, normalization and prompt cache; no optimizer state."""
    import shutil

    from safetensors.torch import save_file

    from dit4dit_ros.model.checkpoint import (CONFIG_FILE, NORMALIZATION_FILE, PROMPT_CACHE_FILE, WEIGHTS_FILE,
                                              read_weights)

    src, dst = Path(src), Path(dst)
    for name in (WEIGHTS_FILE, CONFIG_FILE, NORMALIZATION_FILE, PROMPT_CACHE_FILE):
        if not (src / name).is_file():
            raise FileNotFoundError(f"{src / name}: missing; ship_checkpoint needs a complete checkpoint directory")
    dst.mkdir(parents=True, exist_ok=True)
    weights = read_weights(src / WEIGHTS_FILE)
    if half:
        weights = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(weights, str(dst / WEIGHTS_FILE))
    for name in (CONFIG_FILE, NORMALIZATION_FILE, PROMPT_CACHE_FILE):
        shutil.copyfile(src / name, dst / name)
    return dst
