"""The DiT4DiT training loop: AdamW with per-branch learning rates, warmup + cosine, clipping, bf16, DDP, resume.

Data comes through a small protocol (`TrainDataset`: a map-style torch Dataset whose items are the per-sample
tensors of the DiT4DiT batch contract), so the LeRobot reader, a synthetic set or any in-memory set plug in alike.
Multi-GPU: launch with `torchrun --nproc_per_node N -m dit4dit_ros.cli train ...`; the process group is initialised
from the torchrun environment (nccl on CUDA, gloo on CPU) and each rank reads its shard (DistributedSampler).
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol, runtime_checkable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dit4dit_ros.model.checkpoint import WEIGHTS_FILE, check_state_dict, read_weights, save_checkpoint
from dit4dit_ros.model.normalization import NormalizationStats
from dit4dit_ros.model.trainer_state import load_trainer_state, rng_state, set_rng_state

log = logging.getLogger(__name__)

TRAINER_STATE_FILE = "trainer_state.pt"
CHECKPOINTS_DIR = "checkpoints"
BATCH_KEYS = ("video", "state", "action", "action_mask", "prompt_embeds")


@runtime_checkable
class TrainDataset(Protocol):
    """Map-style dataset; item i is a dict of per-sample tensors (no batch axis):
    "video" (T,3,H,W) float [0,1]; "state" (state_dim,); "action" (H,action_dim); "action_mask" (H,action_dim);
    "prompt_embeds" (L,C). The data helper's LeRobot reader implements the same protocol."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]: ...


class SyntheticDataset(Dataset):
    """Fixed random samples shaped like the model's batch contract (smoke runs, overfit tests, benches)."""

    def __init__(self, cfg: Any, num_samples: int, seed: int = 0, prompt_length: int = 8) -> None:
        if num_samples <= 0:
            raise ValueError(f"num_samples must be > 0, got {num_samples}")
        g = torch.Generator().manual_seed(seed)
        v, a = cfg.video, cfg.action
        h, w = v.image_size
        n_act = cfg.layout.num_action_joints
        # Smooth clips (a random image drifting over time) are closer to video than per-pixel noise.
        base = torch.rand(num_samples, 1, 3, h, w, generator=g)
        drift = torch.linspace(0, 0.2, v.num_frames).view(1, -1, 1, 1, 1)
        self.video = (base + drift * torch.rand(num_samples, 1, 3, 1, 1, generator=g)).clamp(0, 1)
        self.state = torch.zeros(num_samples, a.state_dim)
        self.state[:, : cfg.layout.encoded_state_width] = torch.rand(
            num_samples, cfg.layout.encoded_state_width, generator=g) * 2 - 1
        self.action = torch.zeros(num_samples, a.horizon, a.action_dim)
        self.action[..., :n_act] = torch.rand(num_samples, a.horizon, n_act, generator=g) * 2 - 1
        self.mask = torch.zeros_like(self.action)
        self.mask[..., :n_act] = 1.0
        self.prompt = torch.randn(num_samples, prompt_length, v.prompt_embed_dim, generator=g)

    def __len__(self) -> int:
        return self.video.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"video": self.video[i], "state": self.state[i], "action": self.action[i],
                "action_mask": self.mask[i], "prompt_embeds": self.prompt[i]}


@dataclass
class TrainConfig:
    """Trainer settings; `from_model_defaults` fills them from the preset's `training` section."""

    out_dir: str
    steps: int = 1000
    batch_size: int = 8
    backbone_lr: float = 1e-5
    action_lr: float = 1e-4
    min_lr: float = 5e-7
    warmup_steps: int = 5000
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 1e-8
    grad_clip: float = 1.0
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    gradient_checkpointing: bool = False
    repeated_diffusion_steps: Optional[int] = None  # None: keep the model config's value
    save_every: int = 1000
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0
    resume: Optional[str] = None  # a checkpoint dir, or "auto" for the newest under out_dir/checkpoints
    progress: bool = True
    find_unused_parameters: bool = False
    # Debug/overfit checks: redraw the SAME flow noise and times every step (a deterministic regression);
    # None (default) draws fresh noise each step as real training must.
    fixed_noise_seed: Optional[int] = None

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        for name in ("steps", "batch_size", "save_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("backbone_lr", "action_lr", "grad_clip", "eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.min_lr < 0 or self.warmup_steps < 0 or self.num_workers < 0:
            raise ValueError("TrainConfig: min_lr, warmup_steps and num_workers must be >= 0")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"TrainConfig.precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.repeated_diffusion_steps is not None and self.repeated_diffusion_steps < 1:
            raise ValueError("TrainConfig.repeated_diffusion_steps must be >= 1")

    @classmethod
    def from_model_defaults(cls, model_cfg: Any, out_dir: str, **overrides: Any) -> "TrainConfig":
        t = model_cfg.training
        base = dict(steps=t.max_steps, batch_size=t.batch_size, backbone_lr=t.backbone_lr, action_lr=t.action_lr,
                    min_lr=t.min_lr, warmup_steps=t.warmup_steps, betas=t.betas, eps=t.eps,
                    weight_decay=t.weight_decay, grad_clip=t.grad_clip,
                    precision="auto" if t.precision == "bf16" else "fp32")
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(out_dir=out_dir, **base)


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warmup to 1, then cosine down to `min_ratio` at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, tc: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with a "backbone" and an "action" group (own lr each) and a shared warmup+cosine schedule."""
    groups = model.param_groups()
    param_groups = []
    for name, lr in (("backbone", tc.backbone_lr), ("action", tc.action_lr)):
        if groups.get(name):
            param_groups.append({"params": groups[name], "lr": lr, "name": name})
    if not param_groups:
        raise ValueError("nothing to train: every parameter is frozen in this mode")
    fused = all(p.is_cuda for g in param_groups for p in g["params"])
    opt = torch.optim.AdamW(param_groups, betas=tc.betas, eps=tc.eps, weight_decay=tc.weight_decay,
                            fused=fused or None)
    lambdas = [
        (lambda step, base=g["lr"]: cosine_with_warmup(step, tc.warmup_steps, tc.steps, tc.min_lr / base))
        for g in param_groups
    ]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambdas)


class _LossModule(nn.Module):
    """DDP synchronises gradients through `forward`; DiT4DiT trains through `loss`, so wrap it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        return self.model.loss(batch, generator=generator)


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun process group if the environment describes one (RANK/WORLD_SIZE set), else single process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), True)
    log.info("distributed: rank %d/%d backend %s", info.rank, info.world_size, backend)
    return info


def latest_checkpoint(out_dir: str | os.PathLike) -> Optional[Path]:
    root = Path(out_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return None
    done = sorted(p for p in root.iterdir() if (p / TRAINER_STATE_FILE).is_file())
    return done[-1] if done else None


class _Logger:
    """Loss log as JSONL and CSV (one row per logged step), appended across resumes."""

    FIELDS = ("step", "loss_total", "loss_video", "loss_action", "grad_norm", "lr_backbone", "lr_action",
              "seconds_per_step", "wall_time")

    def __init__(self, out_dir: Path) -> None:
        self.jsonl = out_dir / "train_log.jsonl"
        self.csv = out_dir / "train_log.csv"
        new_csv = not self.csv.exists()
        self._csv_file = open(self.csv, "a", newline="")
        self._writer = csv.DictWriter(self._csv_file, fieldnames=self.FIELDS)
        if new_csv:
            self._writer.writeheader()

    def write(self, row: dict[str, float]) -> None:
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        self._writer.writerow({k: row.get(k) for k in self.FIELDS})
        self._csv_file.flush()

    def close(self) -> None:
        self._csv_file.close()


@dataclass
class TrainResult:
    step: int
    history: list[dict[str, float]]  # every step's losses (this process)
    last_checkpoint: Optional[Path]


def _autocast(device: torch.device, precision: str):
    use_bf16 = device.type == "cuda" and precision in ("auto", "bf16")
    if precision == "bf16" and device.type != "cuda":
        log.warning("bf16 autocast requested on %s: training in fp32 instead", device)
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16) if use_bf16 else torch.autocast(
        device_type=device.type, enabled=False)


def train(model: nn.Module, dataset: TrainDataset, tc: TrainConfig, normalization: Optional[NormalizationStats] = None,
          prompt_cache: Any = None, device: str = "cpu") -> TrainResult:
    """Train `model` (a DiT4DiT) on `dataset`; checkpoints go to out_dir/checkpoints/step_XXXXXXX/."""
    if not isinstance(dataset, TrainDataset):
        raise TypeError(f"dataset must implement __len__/__getitem__ (TrainDataset), got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    info = init_distributed(device)
    dev = torch.device(device)
    if dev.type == "cuda" and info.world_size > 1:
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    out = Path(tc.out_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    normalization = normalization or NormalizationStats.for_layout(model.cfg.layout)

    torch.manual_seed(tc.seed + info.rank)
    if tc.repeated_diffusion_steps is not None:
        model.action.cfg.repeated_diffusion_steps = int(tc.repeated_diffusion_steps)
    model.action.set_gradient_checkpointing(tc.gradient_checkpointing)
    if tc.gradient_checkpointing:
        model.video.transformer.enable_gradient_checkpointing()
    model.to(dev)
    model.train()
    opt, sched = build_optimizer(model, tc)
    step = 0
    resume_dir = latest_checkpoint(out) if tc.resume == "auto" else (Path(tc.resume) if tc.resume else None)
    if resume_dir is not None:
        step = _resume(resume_dir, model, opt, sched, dev)
        log.info("resumed from %s at step %d", resume_dir, step)

    wrapped: nn.Module = _LossModule(model)
    if info.world_size > 1 or (dist.is_available() and dist.is_initialized()):
        from torch.nn.parallel import DistributedDataParallel as DDP

        wrapped = DDP(wrapped, device_ids=[dev.index] if dev.type == "cuda" else None,
                      find_unused_parameters=tc.find_unused_parameters)
    sampler = None
    if info.world_size > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, seed=tc.seed)
    loader_gen = torch.Generator().manual_seed(tc.seed)
    loader = DataLoader(dataset, batch_size=tc.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=tc.num_workers, drop_last=len(dataset) >= tc.batch_size * info.world_size,
                        generator=loader_gen, pin_memory=dev.type == "cuda")
    params = [p for g in opt.param_groups for p in g["params"]]
    logger = _Logger(out) if info.is_main else None
    bar = None
    if info.is_main and tc.progress:
        from tqdm import tqdm

        bar = tqdm(total=tc.steps, initial=step, desc="train", dynamic_ncols=True)
    history: list[dict[str, float]] = []
    last_ckpt: Optional[Path] = None
    per_epoch = len(loader)
    if per_epoch == 0:
        raise ValueError(f"dataset of {len(dataset)} samples gives no batch of {tc.batch_size} per rank")
    epoch, skip = divmod(step, per_epoch)  # on resume: same epoch order, skip the batches already seen
    t_last = time.perf_counter()
    try:
        while step < tc.steps:
            # The shuffle order is a function of (seed, epoch) only, so a resumed run sees the same batches.
            loader_gen.manual_seed(tc.seed + epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            for i, batch in enumerate(loader):
                if i < skip:
                    continue
                if step >= tc.steps:
                    break
                batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
                gen = None
                if tc.fixed_noise_seed is not None:
                    gen = torch.Generator(device=dev).manual_seed(tc.fixed_noise_seed)
                with _autocast(dev, tc.precision):
                    losses = wrapped(batch, generator=gen)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
                opt.step()
                sched.step()
                step += 1
                row = {"step": step, "loss_total": float(losses["total"].detach()),
                       "loss_video": float(losses["video"].detach()), "loss_action": float(losses["action"].detach()),
                       "grad_norm": float(grad_norm)}
                for g in opt.param_groups:
                    row[f"lr_{g['name']}"] = g["lr"]
                history.append(row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(video=f"{row['loss_video']:.4f}", action=f"{row['loss_action']:.4f}")
                if logger is not None and (step % tc.log_every == 0 or step == tc.steps):
                    now = time.perf_counter()
                    row = dict(row, seconds_per_step=(now - t_last) / tc.log_every, wall_time=time.time())
                    t_last = now
                    logger.write(row)
                if step % tc.save_every == 0 or step == tc.steps:
                    last_ckpt = _save(out, step, model, opt, sched, normalization, prompt_cache, info)
            epoch += 1
            skip = 0
    finally:
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()
        if info.initialized_here:
            dist.destroy_process_group()
    return TrainResult(step, history, last_ckpt)


def _save(out: Path, step: int, model: nn.Module, opt, sched, normalization, prompt_cache, info: DistInfo) -> Path:
    path = out / CHECKPOINTS_DIR / f"step_{step:07d}"
    if info.is_main:
        save_checkpoint(path, model, normalization, prompt_cache)
        state = {"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng_state(),
                 "model_config": model.cfg.to_dict()}
        tmp = path / (TRAINER_STATE_FILE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path / TRAINER_STATE_FILE)  # written last: its presence marks a complete checkpoint
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return path


def _resume(path: Path, model: nn.Module, opt, sched, dev: torch.device) -> int:
    state_path = path / TRAINER_STATE_FILE
    if not state_path.is_file():
        raise FileNotFoundError(f"{state_path}: missing; --resume needs a checkpoint written by `dit4dit train`")
    weights = read_weights(path / WEIGHTS_FILE)
    check_state_dict(path / WEIGHTS_FILE, model, weights)
    model.load_state_dict(weights)
    state = load_trainer_state(state_path)
    if state.get("model_config", {}).get("action") != model.cfg.to_dict()["action"]:
        log.warning("%s was trained with a different action config", path)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    model.to(dev)
    return int(state["step"])
