"""CLI of the data area: `dit4dit export-lerobot`, `validate-lerobot`, `bench dataloader`.

`dit4dit record` and `bench record` start the recorder node, so they live in bringup/node_commands.py.
"""
from __future__ import annotations

import argparse
import logging
import sys

LOG = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 224x224, got {text!r}") from None
    return h, w


def _groups(text: str) -> tuple[str, ...]:
    return tuple(g.strip() for g in text.split(",") if g.strip())


# ---- export / validate --------------------------------------------------------------------------------
def _export_arguments(p: argparse.ArgumentParser) -> None:
    from dit4dit_ros.data.topics import COMMAND_TOPIC, IMAGE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC

    p.add_argument("inputs", nargs="+", help="episode directories (recorder output) or rosbag2 bag directories")
    p.add_argument("--output", "-o", required=True, help="new LeRobot dataset directory")
    p.add_argument("--fps", type=int, default=None,
                   help="frame rate of the dataset grid (default: the camera's frame rate, from the first episode)")
    p.add_argument("--format", dest="format_version", choices=("v2.1", "v3.0"), default="v2.1",
                   help="LeRobot dataset format: v2.1 (LeRobot 0.3, GR00T loaders) or v3.0 (LeRobot >= 0.4)")
    p.add_argument("--state-groups", type=_groups, default=("left_arm", "right_arm"),
                   help="G1 groups of observation.state, e.g. left_arm,right_arm,left_gripper,right_gripper (the "
                        "official DiT4DiT G1 layout), left_arm,right_arm,left_hand,right_hand (Dex3-1 joints) or "
                        "waist,left_arm,right_arm")
    p.add_argument("--action-groups", type=_groups, default=("left_arm", "right_arm"), help="groups of action")
    p.add_argument("--image-topic", default=IMAGE_TOPIC)
    p.add_argument("--state-topic", action="append", default=None,
                   help=f"state stream (JointState); repeat to combine streams (default {JOINT_STATES_TOPIC})")
    p.add_argument("--action-topic", action="append", default=None,
                   help=f"command stream: JointState, /lowcmd or /arm_sdk (LowCmd), /dex3/left/cmd, /dex3/right/cmd "
                        f"(Dex3-1 HandCmd); repeat to combine, each channel from the first that has it "
                        f"(default {COMMAND_TOPIC})")
    p.add_argument("--instruction-topic", default=INSTRUCTION_TOPIC)
    p.add_argument("--video-key", default="ego_view")
    p.add_argument("--image-size", type=_size, default=None, help="resize frames to HEIGHTxWIDTH (default: keep)")
    p.add_argument("--codec", choices=("h264", "av1"), default="h264")
    p.add_argument("--crf", type=int, default=23)
    p.add_argument("--gop", type=int, default=10, help="keyframe interval (small = faster random access)")
    p.add_argument("--time-source", choices=("header", "receive"), default="header")
    p.add_argument("--only-success", action="store_true", help="export only episodes marked success")
    p.add_argument("--task", default=None, help="task text for every episode (default: the recorded instruction)")
    p.add_argument("--max-gap", type=float, default=0.5, help="skip episodes with a stream silent this long [s]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-validate", action="store_true", help="skip validating the written dataset")


def _export(args: argparse.Namespace) -> int:
    from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
    from dit4dit_ros.data.lerobot_validate import validate_dataset
    from dit4dit_ros.data.topics import COMMAND_TOPIC, JOINT_STATES_TOPIC

    config = ExportConfig(
        fps=args.fps, image_topic=args.image_topic, state_topics=tuple(args.state_topic or (JOINT_STATES_TOPIC,)),
        action_topics=tuple(args.action_topic or (COMMAND_TOPIC,)), instruction_topic=args.instruction_topic,
        state_groups=args.state_groups, action_groups=args.action_groups, video_key=args.video_key,
        image_size=args.image_size, codec=args.codec, crf=args.crf, gop=args.gop, time_source=args.time_source,
        only_success=args.only_success, task=args.task, max_gap_s=args.max_gap, format_version=args.format_version,
    )
    try:
        reports = export_episodes(find_bags(args.inputs), args.output, config, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:  # bad input: one line naming it, nothing written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in reports:
        if r.skipped:
            print(f"{r.bag}: skipped ({r.skipped})")
        else:
            gaps = ", ".join(f"{t} {g * 1000:.0f}" for t, g in r.max_gaps_s.items())
            repeated = f", {r.repeated_frames} REPEATED camera frames" if r.repeated_frames else ""
            print(f"{r.bag} -> episode {r.episode_index}: {r.frames} frames{repeated}, max image offset "
                  f"{r.max_image_offset_ms:.1f} ms, max gaps [ms] {gaps}")
    if args.no_validate:
        return 0
    issues = validate_dataset(args.output)  # every video frame decoded
    for issue in issues:
        print(f"INVALID {issue}", file=sys.stderr)
    print(f"{args.output}: {f'valid LeRobot {args.format_version} dataset' if not issues else f'{len(issues)} problems'}")
    return 1 if issues else 0


def _validate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="LeRobot dataset directory (v2.1 or v3.0)")
    videos = p.add_mutually_exclusive_group()
    videos.add_argument("--quick", action="store_true",
                        help="do not decode the videos: check their headers and count packets only")
    videos.add_argument("--no-videos", action="store_true", help="do not open the video files")


def _validate(args: argparse.Namespace) -> int:
    from dit4dit_ros.data.lerobot_validate import validate

    report = validate(args.dataset, check_videos=not args.no_videos, quick=args.quick)
    for issue in report.issues:
        print(issue)
    version = f"LeRobot {report.version}" if report.version else "LeRobot"
    verdict = f"valid {version} dataset" if report.ok else f"{len(report.issues)} problems"
    notes = f" ({'; '.join(report.notes)})" if report.notes else " (every video frame decoded)"
    print(f"{args.dataset}: {verdict}{notes}")
    return 0 if report.ok else 1


# ---- benches ------------------------------------------------------------------------------------------
def _bench_dataloader_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None, help="LeRobot dataset (default: a synthetic 640x480 one)")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--image-size", type=_size, default=(224, 224))
    p.add_argument("--episodes", type=int, default=3, help="synthetic dataset: episodes")
    p.add_argument("--episode-duration", type=float, default=10.0, help="synthetic dataset: seconds per episode")


def _bench_dataloader(args: argparse.Namespace) -> int:
    from dit4dit_ros.data.bench_dataloader import run_dataloader_bench

    result = run_dataloader_bench(args.dataset, args.batches, args.batch_size, args.num_workers, args.image_size,
                                  args.episodes, args.episode_duration)
    print(result.line())
    return 0


def register(registry) -> None:
    registry.add_command("export-lerobot", "export recorded episodes to a LeRobot dataset (v2.1 or v3.0)",
                         _export_arguments, _export)
    registry.add_command("validate-lerobot", "check a LeRobot v2.1/v3.0 dataset (decoding every video frame) and "
                         "list precise problems", _validate_arguments, _validate)
    registry.add_bench("dataloader", "training samples/s of the LeRobot reader with 2 workers",
                       _bench_dataloader_arguments, _bench_dataloader)
