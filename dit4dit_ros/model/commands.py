"""`dit4dit train`, `dit4dit bench flops` (and the video helper's `embed-prompts`)."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


# ---- train -----------------------------------------------------------------------------------------------------
def _train_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="model preset name (tiny, small, cosmos-predict2.5-2b) or a preset YAML path")
    src.add_argument("--config", help="a DiT4DiT config.json (e.g. from a checkpoint) or preset YAML")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--dataset", help="LeRobot dataset directory")
    data.add_argument("--synthetic", type=int, metavar="N", help="train on N fixed synthetic samples (smoke runs)")
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


def _open_dataset(path: str, cfg, prompt_cache=None):
    """A LeRobot v2.1 dataset as a model.train.TrainDataset; task texts map to embeddings of `prompt_cache`
    (default: <dataset>/meta/prompt_embeddings.safetensors)."""
    from dit4dit_ros.data.lerobot_dataset import open_training_dataset

    return open_training_dataset(path, cfg, prompt_cache=prompt_cache)


def _train(args: argparse.Namespace) -> int:
    import torch

    from dit4dit_ros.model.checkpoint import CONFIG_FILE, load_weights_into
    from dit4dit_ros.model.dit4dit import DiT4DiT
    from dit4dit_ros.model.train import SyntheticDataset, TrainConfig, train

    cfg = load_model_config(args.preset, args.config)
    if args.mode:
        cfg.mode = args.mode
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
        dataset = _open_dataset(args.dataset, cfg, prompt_cache=cache)
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
