"""`dit4dit collect-sim`, `dit4dit train-demo`, `dit4dit ship-checkpoint`: the simulated reach demo (evaluation:
dit4dit_ros/evaluation/)."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


# ---- collect-sim ------------------------------------------------------------------------------------------------
def _collect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="reach", help="sim task with a scripted expert (reach, pick_place)")
    p.add_argument("--episodes", type=int, required=True, help="successful demonstrations to write")
    p.add_argument("--out", required=True, help="LeRobot v2.1 dataset directory to create")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (then seed+1, ...)")
    p.add_argument("--fps", type=int, default=10, help="frames and actions per second (must divide 500)")
    p.add_argument("--image-size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.add_argument("--no-validate", action="store_true", help="skip the LeRobot format check at the end")
    p.add_argument("--perturb", type=float, default=0.0, metavar="RAD",
                   help="DART noise: std (rad) of a smooth offset added to the sent commands; the clean expert command "
                        "is recorded (default 0: clean demos)")
    p.add_argument("--perturb-tau", type=float, default=0.3, metavar="S", help="correlation time of that offset (s)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run the episodes in N processes (one simulator each; the dataset is the same)")
    p.add_argument("--max-failures", type=int, default=None, metavar="N",
                   help="expert failures tolerated before giving up (default: episodes // 10 + 2); perturbed "
                        "pick_place drops more demonstrations than clean reach")


def _collect(args: argparse.Namespace) -> int:
    from dit4dit_ros.demo.collect import collect

    logging.getLogger("dit4dit_ros.control.executor").setLevel(logging.WARNING)  # a mode change per episode
    root, stats = collect(args.out, task=args.task, episodes=args.episodes, seed=args.seed, fps=args.fps,
                          image_size=tuple(args.image_size), overwrite=args.overwrite, progress=True,
                          perturb=args.perturb, perturb_tau=args.perturb_tau, max_failures=args.max_failures,
                          workers=args.workers)
    print(f"wrote {stats.episodes} episodes ({stats.frames} frames) to {root} in {stats.seconds:.1f} s: "
          f"{stats.episodes_per_minute:.1f} episodes/min; expert failures dropped: {stats.failed} {stats.failed_seeds}")
    if not args.no_validate:
        from dit4dit_ros.data.lerobot_validate import validate_dataset

        issues = validate_dataset(root)
        if issues:
            for issue in issues:
                print(f"  invalid: {issue}")
            return 1
        print("dataset validates (LeRobot v2.1)")
    return 0


# ---- train-demo -------------------------------------------------------------------------------------------------
def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="LeRobot dataset written by collect-sim")
    p.add_argument("--out", required=True, help="output directory (checkpoints/, train_log.csv)")
    p.add_argument("--preset", default="small", help="model preset (default small)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, help="one learning rate for both branches (default: the preset's)")
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--repeated-diffusion-steps", type=int, default=4, help="noise draws per sample (action loss)")
    p.add_argument("--action-loss-weight", type=float, help="override the preset's action loss weight")
    p.add_argument("--no-latent-calibration", action="store_true",
                   help="keep the preset's latent mean/std instead of measuring them on the dataset")
    p.add_argument("--state-noise", type=float, default=0.0,
                   help="std (radians) of Gaussian noise on the training joint state (default 0: none)")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint period (steps)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--encoder", default="tiny-random:0", help="text encoder for the prompt cache")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's; use 1 on a shared, busy "
                   "CPU: two threads fighting a third process ran 10x slower here)")
    p.add_argument("--resume", help="checkpoint dir, or 'auto' for the newest under --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, or cuda[:N] to train on a GPU")
    p.add_argument("--mode", choices=("joint", "video", "action"),
                   help="which branches train (default: the preset's, joint); 'action' freezes the video trunk")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start a new run (fresh optimizer and schedule) from this checkpoint's weights and latent "
                   "statistics, e.g. an action-only second stage on a jointly trained checkpoint")
    p.add_argument("--init-video-from", metavar="CHECKPOINT",
                   help="start a new run whose video branch (trunk, VAE, latent statistics) comes from this "
                   "checkpoint, with a new action head: a trunk trained on this simulator for a task with another "
                   "layout (e.g. models/g1_reach_small for pick_place)")


def _train(args: argparse.Namespace) -> int:
    from dit4dit_ros.demo.train import DemoTrainSettings, train_demo

    settings = DemoTrainSettings(
        dataset=args.dataset, out=args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, warmup_steps=args.warmup_steps, repeated_diffusion_steps=args.repeated_diffusion_steps,
        action_loss_weight=args.action_loss_weight, state_noise=args.state_noise,
        calibrate_latents=not args.no_latent_calibration, save_every=args.save_every, log_every=args.log_every,
        encoder=args.encoder, seed=args.seed, threads=args.threads, resume=args.resume,
        device=args.device, mode=args.mode, init_from=args.init_from,
        init_video_from=args.init_video_from)
    result = train_demo(settings)
    if result.history:
        last = result.history[-1]
        print(f"step {result.step}: loss total {last['loss_total']:.4f} video {last['loss_video']:.4f} "
              f"action {last['loss_action']:.4f}; checkpoint {result.last_checkpoint}")
    return 0


# ---- ship-checkpoint --------------------------------------------------------------------------------------------
def _ship_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="training checkpoint directory (checkpoints/step_XXXXXXX)")
    p.add_argument("--out", required=True, help="inference-only copy (e.g. models/g1_reach_small)")
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights (default: fp16, half the size)")


def _ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dit4dit_ros.demo.train import ship_checkpoint

    out = ship_checkpoint(args.checkpoint, args.out, half=not args.fp32)
    size = sum(f.stat().st_size for f in Path(out).iterdir() if f.is_file())
    print(f"shipped {args.checkpoint} -> {out} ({size / 1e6:.1f} MB)")
    return 0


# ---- bench collect-sim ------------------------------------------------------------------------------------------
def _bench_collect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--image-size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    p.add_argument("--fps", type=int, default=10)


def _bench_collect(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from dit4dit_ros.demo.collect import collect

    logging.getLogger("dit4dit_ros.control.executor").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_collect_") as tmp:
        _, stats = collect(Path(tmp) / "ds", episodes=args.episodes, fps=args.fps, image_size=tuple(args.image_size))
    print(f"collect-sim: {stats.episodes} episodes, {stats.frames} frames in {stats.seconds:.1f} s -> "
          f"{stats.episodes_per_minute:.1f} episodes/min, {stats.frames / stats.seconds:.1f} frames/s "
          f"({args.image_size[0]}x{args.image_size[1]} at {args.fps} fps)")
    return 0


def register(registry) -> None:
    registry.add_command("collect-sim", "generate scripted-expert demonstrations in the simulator (LeRobot v2.1)",
                         _collect_arguments, _collect)
    registry.add_command("train-demo", "train the small DiT4DiT preset on collect-sim demonstrations (CPU recipe)",
                         _train_arguments, _train)
    registry.add_command("ship-checkpoint", "copy a training checkpoint for inference only (fp16 weights, no optimizer)",
                         _ship_arguments, _ship)
    registry.add_bench("collect-sim", "episodes/min of scripted-expert data generation in the simulator",
                       _bench_collect_arguments, _bench_collect)
