"""`dit4dit train`, `dit4dit bench flops` (and the video helper's `embed-prompts`)."""
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


# ---- bench flops -----------------------------------------------------------------------------------------------
def _flops_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cosmos-predict2.5-2b", help="preset name or YAML (default: the 2B one)")
    p.add_argument("--steps", type=int, help="Euler steps of the action DiT (default: the config's)")
    p.add_argument("--prompt-length", type=int, help="prompt tokens (default: the preset's prompt_max_length)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")


def _flops(args: argparse.Namespace) -> int:
    from dit4dit_ros.model.flops import count_policy_flops, format_flops

    report = count_policy_flops(args.preset, num_steps=args.steps, prompt_length=args.prompt_length)
    if args.json:
        import dataclasses
        import json

        with_te, without = report.ratios()
        print(json.dumps({**dataclasses.asdict(report), "ratio_with_text_encoder": with_te,
                          "ratio_without_text_encoder": without}, indent=1))
    else:
        print(format_flops(report))
    return 0


# ---- import-official -------------------------------------------------------------------------------------------
def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="the official release's weights (.pt/.pth/.bin/.safetensors)")
    p.add_argument("--cosmos", required=True, help="the Cosmos-Predict2.5 diffusers directory it was built on "
                   "(transformer/, vae/; text_encoder/ + tokenizer/ unless --text-encoder)")
    p.add_argument("--text-encoder", help="text encoder directory (or tiny-random:<seed>); default: --cosmos")
    p.add_argument("--instruction", action="append", default=[], required=True, help="instruction to embed (repeat)")
    p.add_argument("--out", required=True, help="output checkpoint directory")
    p.add_argument("--statistics", help="dataset_statistics.json (default: <run>/dataset_statistics.json, the "
                   "official layout <run>/checkpoints/<file>)")
    p.add_argument("--unnorm-key", help="which dataset's statistics when the file holds several")
    p.add_argument("--preset", default="cosmos-predict2.5-2b", help="preset the rest of the configuration comes from")
    p.add_argument("--control-period", type=float, help="seconds between two actions of a chunk (default: preset)")
    p.add_argument("--gripper-state", type=float, nargs=2, metavar=("LEFT", "RIGHT"),
                   help="gripper state the official state input is evaluated at (default: the dataset mean)")


def _import(args: argparse.Namespace) -> int:
    from dit4dit_ros.model.official_release import import_release

    record = import_release(args.checkpoint, args.cosmos, args.instruction, args.out, text_encoder=args.text_encoder,
                            statistics=args.statistics, unnorm_key=args.unnorm_key, preset=args.preset,
                            control_period=args.control_period, gripper_state=args.gripper_state)
    print(f"imported {record['source']['file']} -> {args.out}: {record['mapped_tensors']} tensors"
          f"{', ' + ' and '.join(record['filled_from_cosmos']) + ' from --cosmos' if record['filled_from_cosmos'] else ''}"
          f"; statistics {record['source']['unnorm_key']}; {len(record['instructions'])} instruction(s) embedded with "
          f"{record['text_encoder']}")
    return 0


def register(registry) -> None:
    registry.add_command("train", "train DiT4DiT (single process or torchrun DDP)", _train_arguments, _train)
    registry.add_command("import-official", "turn an official DiT4DiT release into a runnable checkpoint directory",
                         _import_arguments, _import)
    registry.add_bench("flops", "FLOPs per stage of one policy step (meta device), this project vs the official path",
                       _flops_arguments, _flops)
    try:
        from dit4dit_ros.model import prompt_commands
    except ModuleNotFoundError as exc:
        if exc.name != "dit4dit_ros.model.prompt_commands":
            raise
        return
    prompt_commands.register(registry)
