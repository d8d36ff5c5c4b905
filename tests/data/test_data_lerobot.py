"""Bags -> LeRobot v2.1 export, the validator on good and broken datasets, and the training reader.

Synthetic episodes carry checkable signals (data/synthetic.py): joints follow a known ramp, commands are the
ramp + COMMAND_OFFSET held at 100 Hz, and each camera frame encodes its frame number; so alignment after
export and read-back is asserted value by value, not just shape by shape.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig, make_dataloader
from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
from dit4dit_ros.data.lerobot_validate import validate_dataset
from dit4dit_ros.data.synthetic import (
    COMMAND_OFFSET,
    RAMP_SLOPE,
    SyntheticEpisodeSpec,
    decode_frame_number,
    ramp_positions,
    write_synthetic_episodes,
)
from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX
from dit4dit_ros.model.normalization import sin_cos_encode

ARM_IDX = np.array([JOINT_INDEX[n] for n in ARMS])
SPECS = [
    SyntheticEpisodeSpec(duration_s=2.0, start_ns=10**12, instruction="pick up the red cup"),
    SyntheticEpisodeSpec(duration_s=1.0, start_ns=2 * 10**12, instruction="open the drawer"),
]


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    write_synthetic_episodes(root, SPECS)
    return root


@pytest.fixture(scope="module")
def dataset(bags, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "g1_dataset"
    reports = export_episodes(find_bags([bags]), out, ExportConfig(fps=30))
    assert [r.frames for r in reports] == [61, 31] and not any(r.skipped for r in reports)
    return out


def test_export_writes_lerobot_v21_layout(dataset):
    assert validate_dataset(dataset) == []
    info = json.loads((dataset / fmt.INFO_PATH).read_text())
    assert info["codebase_version"] == "v2.1" and info["fps"] == 30
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"], info["total_videos"]) == (2, 92, 2, 2)
    assert info["splits"] == {"train": "0:2"} and info["chunks_size"] == 1000
    assert info["features"]["observation.state"]["names"] == list(ARMS)
    video = info["features"]["observation.images.ego_view"]
    assert video["shape"] == [48, 64, 3] and video["info"]["video.codec"] == "h264"
    assert video["info"]["video.pix_fmt"] == "yuv420p"
    for e in range(2):
        assert (dataset / f"data/chunk-000/episode_{e:06d}.parquet").is_file()
        assert (dataset / f"videos/chunk-000/observation.images.ego_view/episode_{e:06d}.mp4").is_file()
    modality = json.loads((dataset / fmt.MODALITY_PATH).read_text())
    assert modality["state"] == {"left_arm": {"start": 0, "end": 7}, "right_arm": {"start": 7, "end": 14}}
    assert modality["video"] == {"ego_view": {"original_key": "observation.images.ego_view"}}
    assert "human.task_description" in modality["annotation"]
    tasks = fmt.read_jsonl(dataset / fmt.TASKS_PATH)
    assert [t["task"] for t in tasks] == ["pick up the red cup", "open the drawer"]
    stats = fmt.read_jsonl(dataset / fmt.EPISODES_STATS_PATH)[0]["stats"]
    assert np.asarray(stats["observation.images.ego_view"]["mean"]).shape == (3, 1, 1)
    assert stats["action"]["count"] == [61]


def test_exported_values_are_aligned_on_the_frame_grid(dataset):
    table = pq.read_table(dataset / "data/chunk-000/episode_000000.parquet")
    n = table.num_rows
    t = np.arange(n) / 30.0
    state = np.asarray(table.column("observation.state").to_pylist())
    action = np.asarray(table.column("action").to_pylist())
    np.testing.assert_allclose(table.column("timestamp").to_numpy(), t, atol=1e-6)
    # state: the ramp interpolated at each frame time (float32 storage)
    np.testing.assert_allclose(state, ramp_positions(t)[:, ARM_IDX], atol=2e-6)
    # action: the last 100 Hz command at or before the frame time
    held = np.floor(t * 100 + 1e-6) / 100
    np.testing.assert_allclose(action, ramp_positions(held)[:, ARM_IDX] + COMMAND_OFFSET, atol=2e-6)
    # video: frame r of the mp4 is the camera frame captured at r / 30 s
    ds = LeRobotDataset(dataset, LeRobotReaderConfig(image_size=(48, 64)))
    frames = ds.frames_at(0, range(n))
    assert [decode_frame_number(f) for f in frames] == list(range(n))


def test_resampling_to_a_lower_fps_picks_the_nearest_frame(bags, tmp_path):
    out = tmp_path / "ds10"
    export_episodes(find_bags([bags / "episode_000000"]), out, ExportConfig(fps=10, image_size=(24, 32)))
    assert validate_dataset(out) == []
    ds = LeRobotDataset(out, LeRobotReaderConfig(image_size=(24, 32)))
    assert len(ds) == 21
    assert [decode_frame_number(f) for f in ds.frames_at(0, range(21))] == list(range(0, 61, 3))
    state = ds.state  # (21, 14) raw
    np.testing.assert_allclose(np.diff(state, axis=0), RAMP_SLOPE / 10, atol=1e-6)


def test_reader_samples_have_the_contract_shapes_and_alignment(dataset):
    ds = LeRobotDataset(dataset)  # defaults: 17 deltas subsampled by 2 -> 9 frames, H = 16, 224x224, 64/32 dims
    assert len(ds) == 92
    s = ds[10]
    assert s["video"].shape == (9, 3, 224, 224) and s["video"].dtype == torch.float32
    assert 0.0 <= float(s["video"].min()) and float(s["video"].max()) <= 1.0
    assert s["state"].shape == (64,) and s["action"].shape == (16, 32) and s["action_mask"].shape == (16, 32)
    assert s["task"] == "pick up the red cup" and (s["episode_index"], s["frame_index"]) == (0, 10)
    assert [decode_frame_number(f.numpy()) for f in s["video"]] == list(range(10, 27, 2))
    t = 10 / 30
    np.testing.assert_allclose(s["state"][:28].numpy(), sin_cos_encode(ramp_positions(t)[ARM_IDX]), atol=1e-5)
    assert float(s["state"][28:].abs().max()) == 0.0
    raw = ds.codec.unnormalize_action(s["action"].numpy())
    held = np.floor((10 + np.arange(16)) / 30 * 100 + 1e-6) / 100
    np.testing.assert_allclose(raw, ramp_positions(held)[:, ARM_IDX] + COMMAND_OFFSET, atol=1e-5)
    assert s["action_mask"][:, :14].eq(1).all() and s["action_mask"][:, 14:].eq(0).all()
    # near the end of an episode: future frames repeat the last one, actions pad with the last and are masked
    end = ds[55]
    assert [decode_frame_number(f.numpy()) for f in end["video"]] == [55, 57, 59, 60, 60, 60, 60, 60, 60]
    assert end["action_mask"][:, 0].tolist() == [1.0] * 6 + [0.0] * 10
    np.testing.assert_allclose(end["action"][6:].numpy(), end["action"][5:6].expand(10, -1).numpy())
    # episode 1 starts its own frame numbering and task
    first = ds[61]
    assert first["episode_index"] == 1 and first["frame_index"] == 0 and first["task"] == "open the drawer"


def test_dataloader_with_two_persistent_workers(dataset):
    ds = LeRobotDataset(dataset, LeRobotReaderConfig(image_size=(64, 64)))
    loader = make_dataloader(ds, batch_size=4, num_workers=2, seed=3)
    assert loader.persistent_workers and loader.num_workers == 2 and not loader.pin_memory
    batches = [b for _, b in zip(range(3), loader)]
    for b in batches:
        assert b["video"].shape == (4, 9, 3, 64, 64) and b["action"].shape == (4, 16, 32)
        assert len(b["task"]) == 4
        for video, frame_index in zip(b["video"], b["frame_index"].tolist()):
            assert decode_frame_number(video[0].numpy()) == frame_index


def test_reader_selects_columns_by_modality_groups_for_foreign_datasets(dataset, tmp_path):
    foreign = tmp_path / "foreign"
    shutil.copytree(dataset, foreign)
    info_path = foreign / fmt.INFO_PATH
    info = json.loads(info_path.read_text())
    for key in ("observation.state", "action"):  # another tool's joint names
        info["features"][key]["names"] = [f"kMotor{i}" for i in range(14)]
    info_path.write_text(json.dumps(info))
    # the names say nothing, but modality.json's groups are G1 groups: the layout's arms are found there
    ds = LeRobotDataset(foreign, LeRobotReaderConfig(image_size=(32, 32)))
    np.testing.assert_allclose(ds.state[0], ramp_positions(0.0)[ARM_IDX], atol=1e-6)
    ds = LeRobotDataset(foreign, LeRobotReaderConfig(state_groups=("right_arm",), action_groups=("left_arm", "right_arm"),
                                                     image_size=(32, 32)))
    s = ds[0]
    np.testing.assert_allclose(s["state"][:14].numpy(), sin_cos_encode(ramp_positions(0.0)[ARM_IDX[7:]]), atol=1e-5)
    with pytest.raises(ValueError, match="no state group 'waist'"):
        LeRobotDataset(foreign, LeRobotReaderConfig(state_groups=("waist",)))
    (foreign / fmt.MODALITY_PATH).unlink()  # nothing left to tell the columns apart: the error names the flags
    with pytest.raises(ValueError, match="cannot tell which columns of 'observation.state'.*--state-columns"):
        LeRobotDataset(foreign)


def test_export_errors_name_the_problem(bags, tmp_path):
    with pytest.raises(ValueError, match="topic '/missing' is not in the bag"):
        export_episodes(find_bags([bags]), tmp_path / "x", ExportConfig(action_topics=("/missing",)))
    assert not (tmp_path / "x").exists()  # nothing half-written
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_bags([tmp_path / "nope"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        export_episodes(find_bags([bags]), tmp_path / "full", ExportConfig())
    with pytest.raises(ValueError, match=r"unknown G1 group\(s\) \['hands'\]"):
        export_episodes(find_bags([bags]), tmp_path / "y", ExportConfig(state_groups=("hands",)))


# ---- validator on broken datasets ------------------------------------------------------------------
def _broken(dataset, tmp_path, edit) -> list[str]:
    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    edit(bad)
    return [str(i) for i in validate_dataset(bad)]


def _edit_json(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _rewrite_parquet(path, column, fn):
    table = pq.read_table(path)
    i = table.column_names.index(column)
    table = table.set_column(i, column, pa.array(fn(table.column(column).to_numpy()), type=table.schema.field(i).type))
    pq.write_table(table, path)


BROKEN_CASES = {
    "version": (lambda d: _edit_json(d / fmt.INFO_PATH, lambda i: i.update(codebase_version="v2.0")),
                "meta/info.json: codebase_version is 'v2.0', expected one of ['v2.1', 'v3.0']"),
    "missing_key": (lambda d: _edit_json(d / fmt.INFO_PATH, lambda i: i.pop("data_path")),
                    "meta/info.json: missing key 'data_path'"),
    "feature_names": (lambda d: _edit_json(d / fmt.INFO_PATH, lambda i: i["features"]["action"].pop("names")),
                      "features['action']: must be an object with 'dtype', 'shape' and 'names'"),
    "totals": (lambda d: _edit_json(d / fmt.INFO_PATH, lambda i: i.update(total_frames=93)),
               "total_frames is 93, the episode lengths sum to 92"),
    "parquet_missing": (lambda d: (d / "data/chunk-000/episode_000001.parquet").unlink(),
                        "data/chunk-000/episode_000001.parquet: missing (episode 1)"),
    "timestamps": (lambda d: _rewrite_parquet(d / "data/chunk-000/episode_000000.parquet", "timestamp", lambda t: t * 1.01),
                   "episode_000000.parquet: timestamp at row 60 is 2.020000 s, expected frame_index/fps = 2.000000 s"),
    "index": (lambda d: _rewrite_parquet(d / "data/chunk-000/episode_000001.parquet", "index", lambda x: x - 61),
              "episode_000001.parquet: episode 1: index must run 61..91"),
    "length": (lambda d: (d / fmt.EPISODES_PATH).write_text(
                   (d / fmt.EPISODES_PATH).read_text().replace('"length": 31', '"length": 30')),
               "episode_000001.parquet: has 31 rows, meta/episodes.jsonl says length 30"),
    "stats": (lambda d: (d / fmt.EPISODES_STATS_PATH).write_text(
                  "\n".join(json.dumps({**r, "stats": {k: v for k, v in r["stats"].items() if k != "action"}})
                            for r in fmt.read_jsonl(d / fmt.EPISODES_STATS_PATH)) + "\n"),
              "meta/episodes_stats.jsonl:1: episode 0: no stats for feature 'action'"),
    "modality": (lambda d: _edit_json(d / fmt.MODALITY_PATH, lambda m: m["action"]["right_arm"].update(end=15)),
                 "meta/modality.json: action.right_arm: start/end 7/15 must satisfy 0 <= start < end <= 14"),
    "video_missing": (lambda d: (d / "videos/chunk-000/observation.images.ego_view/episode_000001.mp4").unlink(),
                      "episode_000001.mp4: missing (episode 1, camera observation.images.ego_view)"),
    "video_size": (lambda d: _edit_json(d / fmt.INFO_PATH, lambda i: i["features"]["observation.images.ego_view"]["info"]
                                        .update({"video.width": 80})),
                   "info video.height/width 48x80 differ from shape [48, 64, 3]"),
    "jsonl": (lambda d: (d / fmt.TASKS_PATH).write_text('{"task_index": 0, "task": "a"}\nnot json\n'),
              "meta/tasks.jsonl:2: not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_validator_gives_precise_errors_on_broken_datasets(dataset, tmp_path, case):
    edit, expected = BROKEN_CASES[case]
    issues = _broken(dataset, tmp_path, edit)
    assert any(expected in issue for issue in issues), f"{case}: expected {expected!r} in {issues}"


def test_validate_cli_exit_codes(dataset, tmp_path, capsys):
    from dit4dit_ros.cli import main

    assert main(["validate-lerobot", str(dataset)]) == 0
    assert "valid LeRobot v2.1 dataset" in capsys.readouterr().out
    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    (bad / fmt.INFO_PATH).unlink()
    assert main(["validate-lerobot", str(bad)]) == 1
    assert "meta/info.json: missing" in capsys.readouterr().out


def test_export_takes_actions_from_recorded_unitree_arm_sdk_commands(tmp_path):
    from dit4dit_ros.data.lowcmd_cdr import lowcmd_to_cdr
    from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig
    from dit4dit_ros.data.synthetic import synthetic_messages
    from dit4dit_ros.data.topics import default_streams
    from dit4dit_ros.g1.lowcmd import ControlPath, MotorCommand, build_lowcmd

    spec = SyntheticEpisodeSpec(duration_s=1.0, start_ns=10**12)
    streams = default_streams(command_topic="", dds_command_topics=("rt/arm_sdk",))
    rec = EpisodeRecorder(RecorderConfig(tmp_path / "bags", streams, min_free_mb=0.0, reserve_free_mb=0.0))
    rec.start(spec.instruction)
    messages = [m for m in synthetic_messages(spec) if m[0] != "/dit4dit/executor/command"]
    for k in range(101):  # rt/arm_sdk at 100 Hz, q = ramp + 0.02 (timestamps = the recorder's receive time)
        t = spec.start_ns + k * 10_000_000
        cmd = build_lowcmd(MotorCommand.hold(ramp_positions(k / 100) + 0.02), mode_machine=5, path=ControlPath.ARM_SDK)
        messages.append(("/arm_sdk", t, lowcmd_to_cdr(cmd)))
    for topic, t, data in sorted(messages, key=lambda m: m[1]):
        assert rec.offer(topic, t, data)
    rec.stop()
    rec.close()
    out = tmp_path / "ds"
    export_episodes(find_bags([tmp_path / "bags"]), out, ExportConfig(action_topics=("/arm_sdk",)))
    assert validate_dataset(out) == []
    action = np.asarray(pq.read_table(out / "data/chunk-000/episode_000000.parquet").column("action").to_pylist())
    t = np.arange(len(action)) / 30
    held = np.floor(t * 100 + 1e-6) / 100
    np.testing.assert_allclose(action, ramp_positions(held)[:, ARM_IDX] + 0.02, atol=1e-6)  # float32 on the wire


def test_export_takes_the_fps_from_the_camera_and_warns_on_repeated_frames(tmp_path, caplog, capsys):
    from dit4dit_ros.cli import main

    write_synthetic_episodes(tmp_path / "bags", [SyntheticEpisodeSpec(duration_s=2.0, image_rate=10.0)])
    (report,) = export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "auto", ExportConfig())
    info = json.loads((tmp_path / "auto" / fmt.INFO_PATH).read_text())
    assert info["fps"] == 10 and report.frames == 21 and report.repeated_frames == 0
    ds = LeRobotDataset(tmp_path / "auto", LeRobotReaderConfig(image_size=(48, 64)))
    assert [decode_frame_number(f) for f in ds.frames_at(0, range(21))] == list(range(21))
    # forcing 30 fps on the 10 Hz camera: two of three dataset frames repeat a camera frame, and it says so
    with caplog.at_level("WARNING", logger="dit4dit_ros.data.lerobot_export"):
        (report,) = export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "30", ExportConfig(fps=30))
    assert report.frames == 61 and report.repeated_frames == 40
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("dataset fps 30 is above the camera's ~10 Hz" in w for w in warnings), warnings
    assert any("40 of 61 frames repeat the camera frame before them" in w for w in warnings), warnings
    assert main(["export-lerobot", str(tmp_path / "bags"), "-o", str(tmp_path / "cli30"), "--fps", "30"]) == 0
    assert "61 frames, 40 REPEATED camera frames" in capsys.readouterr().out
