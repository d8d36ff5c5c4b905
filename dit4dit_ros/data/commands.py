"""CLI of the data area: `dit4dit record`, `export-lerobot`, `validate-lerobot`, `bench record`, `bench dataloader`."""
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


# ---- record -------------------------------------------------------------------------------------------
def _record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", default=None, help="episode directory (parameter output_dir; default 'episodes')")
    p.add_argument("--instruction", default=None, help="instruction when none arrives on /dit4dit/instruction")
    p.add_argument("--params-file", default=None, help="ROS parameter YAML with a 'recorder' section")
    p.add_argument("--start", action="store_true", help="start an episode at once (auto_start)")
    p.add_argument("--duration", type=float, default=None, help="stop each episode after this many seconds")
    p.add_argument("--episodes", type=int, default=None, help="with --start --duration: record this many, then exit")
    p.add_argument("--dds-commands", nargs="+", default=None, metavar="TOPIC",
                   help="also record Unitree DDS commands: rt/lowcmd, rt/arm_sdk, rt/dex3/left/cmd, rt/dex3/right/cmd")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--recover", metavar="DIR", default=None,
                      help="salvage the interrupted episodes under DIR/.partial and exit")
    mode.add_argument("--list", metavar="DIR", default=None, help="list the episodes under DIR and exit")


def _record(args: argparse.Namespace) -> int:
    if args.recover:
        return _recover(args.recover)
    if args.list:
        return _list(args.list)
    from dit4dit_ros.bringup.processes import ros_value
    from dit4dit_ros.nodes import recorder_node

    ros_args = ["--ros-args", "-r", f"__node:={recorder_node.NODE_NAME}"]
    if args.params_file:
        ros_args += ["--params-file", args.params_file]
    overrides = {
        "output_dir": args.output,
        "instruction": args.instruction,
        "auto_start": True if args.start else None,
        "max_episode_s": args.duration,
        "max_episodes": args.episodes,
    }
    for name, value in overrides.items():
        if value is not None:
            ros_args += ["-p", f"{name}:={ros_value(value)}"]
    if args.dds_commands:
        ros_args += ["-p", f"dds_command_topics:={','.join(args.dds_commands)}"]
    return recorder_node.main(["dit4dit-record"] + ros_args)


def _recover(directory: str) -> int:
    from dit4dit_ros.data.episode_store import EpisodeStore
    from dit4dit_ros.data.recovery import recover_partials

    store = EpisodeStore(directory)
    if not store.root.is_dir():
        print(f"error: {directory} is not a directory", file=sys.stderr)
        return 2
    results = recover_partials(store)
    if not results:
        print(f"nothing to recover under {store.partial_root}")
        return 0
    for r in results:
        state = "recovered" if r.recovered else "NOT recoverable"
        print(f"episode {r.index:6d}: {state:16s} -> {r.path}  {r.message_counts}  ({r.reason})")
    return 0 if all(r.recovered for r in results) else 1


def _list(directory: str) -> int:
    from dit4dit_ros.data.episode_store import EpisodeStore

    store = EpisodeStore(directory)
    print(f"{'episode':>7s} {'status':10s} {'success':8s} {'dur_s':>6s} {'messages':>9s}  instruction")
    for e in store.episodes():
        info = e.info
        success = {None: "-", True: "yes", False: "no"}[info.success]
        print(f"{e.index:7d} {info.status:10s} {success:8s} {info.duration_s:6.1f} "
              f"{sum(info.message_counts.values()):9d}  {info.instruction}")
    for p in store.partials():
        print(f"{'':7s} {'partial':10s} {p}  (dit4dit record --recover {directory})")
    return 0


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
def _bench_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--image-rate", type=float, default=30.0)
    p.add_argument("--state-rate", type=float, default=500.0)
    p.add_argument("--command-rate", type=float, default=0.0, help="also publish commands (JointState) at this rate")
    p.add_argument("--output", default=None, help="keep the bag here (default: a temporary directory, deleted)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _bench_record(args: argparse.Namespace) -> int:
    import json

    from dit4dit_ros.nodes.recorder_bench import run_record_bench

    result = run_record_bench(args.duration, args.width, args.height, args.image_rate, args.state_rate,
                              args.command_rate, args.output)
    if args.json:
        data = dict(result.__dict__)
        data["dropped"] = result.dropped
        print(json.dumps(data, indent=1))
    else:
        print(result.table())
    return 0 if all(v == 0 for v in result.dropped.values()) else 1


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
    registry.add_command("record", "record episodes (rosbag2 MCAP) from the live graph; --recover, --list",
                         _record_arguments, _record)
    registry.add_command("export-lerobot", "export recorded episodes to a LeRobot dataset (v2.1 or v3.0)",
                         _export_arguments, _export)
    registry.add_command("validate-lerobot", "check a LeRobot v2.1/v3.0 dataset (decoding every video frame) and "
                         "list precise problems", _validate_arguments, _validate)
    registry.add_bench("record", "recorder loss/CPU/disk at 30 Hz 640x480 + 500 Hz joint states",
                       _bench_record_arguments, _bench_record)
    registry.add_bench("dataloader", "training samples/s of the LeRobot reader with 2 workers",
                       _bench_dataloader_arguments, _bench_dataloader)
