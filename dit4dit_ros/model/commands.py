"""`dit4dit train`, `dit4dit bench model` (and the video helper's `embed-prompts`)."""
from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


# ---- train -----------------------------------------------------------------------------------------------------
def _train_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="model preset name (tiny, small, cosmos-predict2.5-2b) or a preset YAML path")
    src.add_argument("--config", help="a DiT4DiT config.json (e.g. from a checkpoint) or preset YAML")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--dataset", help="LeRobot dataset directory")
    data.add_argument("--synthetic", type=int, metavar="N", help="train on N fixed synthetic samples (smoke runs)")
    layout = p.add_argument_group(
        "dataset layout", "which columns of the dataset are which G1 channels (default: info.json's G1 names, else "
        "modality.json's G1 groups); the control period is always 1 / the dataset's fps")
    layout.add_argument("--layout", metavar="FILE", help="layout file (YAML/JSON): state/action column spans per "
                        "group, state_key, action_key, video_key (see data/dataset_layout.py)")
    layout.add_argument("--state-columns", metavar="SPANS",
                        help="e.g. left_arm=0:7,right_arm=7:14,left_gripper=14,right_gripper=15")
    layout.add_argument("--action-columns", metavar="SPANS", help="same for the action vector")
    layout.add_argument("--state-groups", metavar="GROUPS", help="modality.json groups to use, e.g. left_arm,right_arm")
    layout.add_argument("--action-groups", metavar="GROUPS", help="same for the action vector")
    layout.add_argument("--state-key", help="parquet column of the state (default observation.state)")
    layout.add_argument("--action-key", help="parquet column of the action (default action)")
    layout.add_argument("--video-key", help="camera: modality.json name or feature key (default: the only one)")
    p.add_argument("--out", required=True, help="output directory (checkpoints/, train_log.csv, train_log.jsonl)")
    p.add_argument("--steps", type=int, help="total optimizer steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="per-process batch size (default: the preset's)")
    p.add_argument("--lr", type=float, help="one learning rate for both the video backbone and the action head")
    p.add_argument("--backbone-lr", type=float, help="learning rate of the video transformer")
    p.add_argument("--action-lr", type=float, help="learning rate of the action DiT")
    p.add_argument("--min-lr", type=float)
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--mode", choices=("joint", "video", "action"), help="which branches train (default: preset)")
    p.add_argument("--resume", help="checkpoint dir to resume from, or 'auto' for the newest under --out")
    p.add_argument("--init-from", help="start from the weights of this checkpoint directory (fine-tuning)")
    p.add_argument("--prompt-cache", help="prompt embedding cache: maps the dataset's task texts to embeddings "
                   "and is stored with the checkpoints (default for --dataset: <dataset>/meta/prompt_embeddings.safetensors)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--repeated-diffusion-steps", type=int, help="noise draws per sample for the action loss")
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")


def load_model_config(preset: str | None, config: str | None):
    """A DiT4DiTConfig from a preset name/YAML or a config.json."""
    import json

    from dit4dit_ros.model.dit4dit import DiT4DiTConfig, load_preset

    if preset:
        return load_preset(preset)
    assert config is not None
    if config.endswith(".json"):
        with open(config, encoding="utf-8") as f:
            try:
                return DiT4DiTConfig.from_dict(json.load(f))
            except (ValueError, TypeError) as exc:
                raise SystemExit(f"{config}: invalid DiT4DiT config: {exc}") from exc
    return load_preset(config)


def _open_dataset(path: str, cfg, prompt_cache=None, columns=None):
    """A LeRobot dataset (v2.1 or v3.0) as a model.train.TrainDataset; task texts map to embeddings of
    `prompt_cache` (default: <dataset>/meta/prompt_embeddings.safetensors)."""
    from dit4dit_ros.data.lerobot_dataset import open_training_dataset

    return open_training_dataset(path, cfg, prompt_cache=prompt_cache, columns=columns)


def column_selection(args: argparse.Namespace):
    """The dataset layout from --layout and the column flags (flags override the file's entries)."""
    from dataclasses import replace

    from dit4dit_ros.data.dataset_layout import ColumnSelection, parse_group_columns

    selection = ColumnSelection.load(args.layout) if args.layout else ColumnSelection()
    changes = {}
    for part in ("state", "action"):
        spans, groups = getattr(args, f"{part}_columns"), getattr(args, f"{part}_groups")
        if spans and groups:
            raise ValueError(f"--{part}-columns and --{part}-groups both given; use one")
        if spans:
            changes.update({part: parse_group_columns(spans), f"{part}_groups": None})
        elif groups:
            changes.update({part: None, f"{part}_groups": tuple(g.strip() for g in groups.split(",") if g.strip())})
        if getattr(args, f"{part}_key"):
            changes[f"{part}_key"] = getattr(args, f"{part}_key")
    if args.video_key:
        changes["video_key"] = args.video_key
    return replace(selection, **changes) if changes else selection


def _apply_dataset_layout(args: argparse.Namespace, cfg):
    """Set cfg.layout from the dataset (its channels, 1 / fps); returns the column selection for the reader."""
    from dit4dit_ros.data.dataset_layout import layout_for_dataset
    from dit4dit_ros.model.train import latest_checkpoint

    columns = column_selection(args)
    cfg.layout = layout_for_dataset(args.dataset, cfg.layout, columns)
    log.info("layout from %s: state %s, action %s, control period %.4f s", args.dataset,
             cfg.layout.state_groups or cfg.layout.state_joints, cfg.layout.action_groups or cfg.layout.action_joints,
             cfg.layout.control_period)
    start = args.init_from or (latest_checkpoint(args.out) if args.resume == "auto" else args.resume)
    if start:
        _check_checkpoint_layout(start, cfg.layout)
    return columns


def _check_checkpoint_layout(path, layout) -> None:
    """Fine-tuning or resuming needs the checkpoint's layout: its weights read and write those channels."""
    import json
    from pathlib import Path

    from dit4dit_ros.model.checkpoint import CONFIG_FILE

    saved = json.loads((Path(path) / CONFIG_FILE).read_text()).get("layout", {})
    ours = json.loads(json.dumps(layout.to_dict()))
    differing = sorted(k for k in set(saved) | set(ours) if saved.get(k) != ours.get(k))
    if differing:
        raise ValueError(f"{path}: the checkpoint's layout differs from the dataset's in {differing} "
                         f"(checkpoint {[saved.get(k) for k in differing]}, dataset {[ours.get(k) for k in differing]}); "
                         "train on data with the same channels and fps, or start from scratch")


def _train(args: argparse.Namespace) -> int:
    import torch

    from dit4dit_ros.model.checkpoint import CONFIG_FILE, load_weights_into
    from dit4dit_ros.model.dit4dit import DiT4DiT
    from dit4dit_ros.model.train import SyntheticDataset, TrainConfig, train

    cfg = load_model_config(args.preset, args.config)
    if args.mode:
        cfg.mode = args.mode
    columns = None
    if args.dataset:
        try:
            columns = _apply_dataset_layout(args, cfg)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = DiT4DiT(cfg, load_weights=args.init_from is None and args.resume is None)
    if args.init_from:
        path = load_weights_into(model, args.init_from)
        log.info("initialised from %s (%s must match: it does)", path, CONFIG_FILE)
    cache = None
    if args.prompt_cache:
        from dit4dit_ros.model.prompt_cache import PromptEmbeddingCache

        cache = PromptEmbeddingCache.load(args.prompt_cache)
    normalization = None
    if args.synthetic is not None:
        dataset = SyntheticDataset(cfg, args.synthetic, seed=args.seed)
    else:
        dataset = _open_dataset(args.dataset, cfg, prompt_cache=cache, columns=columns)
        normalization = getattr(dataset, "normalization", None)
    lr = args.lr
    tc = TrainConfig.from_model_defaults(
        cfg, args.out, steps=args.steps, batch_size=args.batch_size,
        backbone_lr=args.backbone_lr or lr, action_lr=args.action_lr or lr, min_lr=args.min_lr,
        warmup_steps=args.warmup_steps, precision=args.precision if args.precision != "auto" else None,
        gradient_checkpointing=args.gradient_checkpointing, repeated_diffusion_steps=args.repeated_diffusion_steps,
        save_every=args.save_every, log_every=args.log_every, num_workers=args.num_workers, seed=args.seed,
        resume=args.resume, progress=not args.no_progress)
    result = train(model, dataset, tc, normalization=normalization, prompt_cache=cache, device=device)
    if result.history:
        last = result.history[-1]
        print(f"step {result.step}: loss total {last['loss_total']:.5f} video {last['loss_video']:.5f} "
              f"action {last['loss_action']:.5f}; checkpoint {result.last_checkpoint}")
    return 0


# ---- bench model -----------------------------------------------------------------------------------------------
def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="tiny", help="preset to time with random weights (default: tiny)")
    p.add_argument("--checkpoint", help="time a checkpoint directory instead (through the torch engine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=10, help="timed predictions (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, help="Euler steps of the action DiT (default: the config's)")
    p.add_argument("--no-scaling", action="store_true", help="skip the trunk cost vs extract_layer table")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _bench(args: argparse.Namespace) -> int:
    from dit4dit_ros.model.bench import format_bench, run_model_bench

    report = run_model_bench(preset=args.preset, checkpoint=args.checkpoint, device=args.device,
                             repeats=args.repeats, warmup=args.warmup, num_steps=args.steps,
                             scaling=not args.no_scaling)
    if args.json:
        import json

        print(json.dumps(report, indent=1))
    else:
        print(format_bench(report))
    return 0


def register(registry) -> None:
    registry.add_command("train", "train DiT4DiT (single process or torchrun DDP)", _train_arguments, _train)
    registry.add_bench("model", "latency per predict stage and peak memory of a model preset or checkpoint",
                       _bench_arguments, _bench)
    try:
        from dit4dit_ros.model import prompt_commands
    except ModuleNotFoundError as exc:
        if exc.name != "dit4dit_ros.model.prompt_commands":
            raise
        return
    prompt_commands.register(registry)
