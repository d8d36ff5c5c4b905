"""`dit4dit eval` (seeded success rate, videos, HTML report, Rerun recording) and `dit4dit demo`."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    from dit4dit_ros.evaluation.results import DEFAULT_EVAL_SEED

    p.add_argument("--checkpoint", required=True, help="checkpoint directory (e.g. models/g1_reach_small)")
    p.add_argument("--task", default="reach")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED,
                   help=f"first held-out seed (default {DEFAULT_EVAL_SEED}; demos use small seeds)")
    p.add_argument("--mode", choices=("graph", "direct"), default="graph",
                   help="graph (default): through the ROS graph (`dit4dit run`, lock-stepped simulator); "
                        "direct: in process (sim + engine + executor core), ~3x faster, no ROS")
    p.add_argument("--blind", action="store_true", help="constant grey image instead of the camera (baseline)")
    p.add_argument("--replan-every", type=int, default=4, help="frames between two predictions (chunk reuse)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of simulation per episode")
    p.add_argument("--video", help="write the first --video-episodes rollouts to this mp4 (scene view beside the "
                   "ego view, with overlays)")
    p.add_argument("--video-episodes", type=int, default=4)
    p.add_argument("--report", type=Path, help="write an HTML report (per-seed table, success with its Wilson "
                   "interval, distance plots, latency histogram, videos) into this directory")
    p.add_argument("--rrd", type=Path, help="record every episode into this Rerun recording (.rrd)")
    p.add_argument("--json", help="also write the result (per episode) to this JSON file")
    p.add_argument("--log-dir", help="graph mode: keep each node's log in this directory (default: deleted)")
    p.add_argument("--threads", type=int, help="CPU threads of the policy engine (1 is far faster on a shared, busy CPU)")
    p.add_argument("--engine", default="torch", choices=("torch", "onnxruntime", "tensorrt"),
                   help="direct mode: the policy engine (onnxruntime/tensorrt run the graphs of `dit4dit export-engine`;"
                        " graph mode runs the engine of the config's policy section)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                   help="direct mode: the engine's precision (which exported graphs)")
    p.add_argument("--device", default="cpu", help="direct mode: the engine's device (tensorrt: cuda)")


def run_evaluation(args: argparse.Namespace):
    """The evaluation `args` describe (the `eval` options), with its videos, report and recording."""
    from dit4dit_ros.evaluation.observers import VideoObserver
    from dit4dit_ros.evaluation.video import RolloutVideos

    if args.episodes < 1:
        raise SystemExit(f"--episodes must be >= 1, got {args.episodes}")
    if args.video_episodes < 0:
        raise SystemExit(f"--video-episodes must be >= 0, got {args.video_episodes}")
    observers = []
    videos_dir = args.report / "videos" if args.report else None
    fps = 10
    if args.video or videos_dir:
        observers.append(VideoObserver(RolloutVideos(fps, args.video, videos_dir, args.video_episodes)))
    recorder = None
    if args.rrd:
        from dit4dit_ros.evaluation.recording import EvalRecording

        recorder = EvalRecording(args.rrd, mode=args.mode)
        observers.append(recorder)
    seeds = range(args.seed, args.seed + args.episodes)
    common = dict(task=args.task, seeds=seeds, blind=args.blind, replan_every=args.replan_every,
                  duration=args.duration, progress=True, observers=observers)
    scene = args.video_episodes if (args.video or videos_dir) else 0
    if args.mode == "direct":
        from dit4dit_ros.evaluation.direct import evaluate_direct

        from dit4dit_ros.engine import make_engine

        if args.log_dir:
            raise SystemExit("--log-dir is for --mode graph (direct mode runs no nodes)")
        options = {"precision": args.precision, "seed": 0}
        if args.engine != "tensorrt":
            options["num_threads"] = args.threads or 0
        engine = make_engine(args.engine, args.checkpoint, device=args.device, **options)
        result = evaluate_direct(args.checkpoint, engine=engine, scene_episodes=scene, **common)
    else:
        from dit4dit_ros.evaluation.graph import evaluate_graph

        if (args.engine, args.precision, args.device) != ("torch", "fp32", "cpu"):
            raise SystemExit("--engine/--precision/--device are for --mode direct; graph mode runs the engine set in "
                             "the config's policy section (engine:, precision:, device:)")

        result = evaluate_graph(args.checkpoint, num_threads=args.threads or 0, log_dir=args.log_dir,
                                scene_camera=bool(scene), **common)
    if recorder is not None:
        result.recording = str(args.rrd)
    return result


def _eval(args: argparse.Namespace) -> int:
    import json

    logging.getLogger("dit4dit_ros.control.executor").setLevel(logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = run_evaluation(args)
    print(result.summary())
    if result.runtime:
        print(result.runtime_summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result.to_dict(), f, indent=1)
    if args.report:
        from dit4dit_ros.evaluation.report import write_report

        print(f"report: {write_report(result, args.report)}")
    if args.rrd:
        print(f"Rerun recording: {args.rrd} (view it with `rerun {args.rrd}`)")
    return 0


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="policy checkpoint (default: the shipped models/g1_reach_small)")
    p.add_argument("--task", default="reach", help="simulated task")
    p.add_argument("--episodes", type=int, default=5, help="number of seeded episodes")
    p.add_argument("--first-seed", type=int, default=None, help="first seed (default: the held-out evaluation seeds)")
    p.add_argument("--video", type=Path, default=Path("runs/demo/rollout.mp4"), help="rollout video (mp4)")
    p.add_argument("--log-dir", type=Path, default=Path("runs/demo/logs"), help="per-node logs of the graph")


def _demo(args: argparse.Namespace) -> int:
    """The main job: the shipped policy closed loop on the simulated G1 through the real ROS graph."""
    from dit4dit_ros.evaluation.graph import evaluate_graph
    from dit4dit_ros.evaluation.observers import VideoObserver
    from dit4dit_ros.evaluation.results import DEFAULT_EVAL_SEED
    from dit4dit_ros.evaluation.video import RolloutVideos
    from dit4dit_ros.paths import demo_checkpoint

    if args.episodes < 1:
        raise SystemExit(f"--episodes must be >= 1, got {args.episodes}")
    checkpoint = Path(args.checkpoint) if args.checkpoint else demo_checkpoint()
    first = DEFAULT_EVAL_SEED if args.first_seed is None else args.first_seed
    print(f"closed loop on the simulated G1 through the ROS graph: {checkpoint}, task {args.task}, "
          f"{args.episodes} episode(s) from seed {first}", flush=True)
    video = VideoObserver(RolloutVideos(10, args.video, episodes=args.episodes))
    result = evaluate_graph(checkpoint, task=args.task, seeds=range(first, first + args.episodes), progress=True,
                            log_dir=args.log_dir, observers=[video], scene_camera=True)
    print(result.summary())
    print(result.runtime_summary())
    print(f"rollout video: {args.video}")
    return 0


def register(registry) -> None:
    registry.add_command("eval", "seeded closed-loop success rate of a checkpoint in the simulator (Wilson 95%% CI), "
                         "videos, HTML report, Rerun recording", add_eval_arguments, _eval)
    registry.add_command("demo", "the shipped policy closed loop on the simulated G1 through the ROS graph "
                         "(success rate + rollout video)", _demo_arguments, _demo)
