"""LeRobot v3.0: `export-lerobot --format v3.0` against the format's description (shared chunked files,
per-episode from/to timestamps, meta/episodes parquet with stats, meta/tasks.parquet), the reader on v3.0
(same samples as from the v2.1 export of the same bags), the validator on good and broken v3.0 datasets,
and video decoding in the validator (corrupted mp4s, --quick)."""
from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig
from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
from dit4dit_ros.data.lerobot_meta import load_dataset_meta, read_v30_episode_rows
from dit4dit_ros.data.lerobot_validate import validate, validate_dataset
from dit4dit_ros.data.lerobot_writer import DatasetSpec, LeRobotDatasetWriter
from dit4dit_ros.data.synthetic import SyntheticEpisodeSpec, decode_frame_number, encode_frame_number, write_synthetic_episodes

SPECS = [
    SyntheticEpisodeSpec(duration_s=2.0, start_ns=10**12, instruction="pick up the red cup"),
    SyntheticEpisodeSpec(duration_s=1.0, start_ns=2 * 10**12, instruction="open the drawer", first_frame_number=100),
    SyntheticEpisodeSpec(duration_s=1.0, start_ns=3 * 10**12, instruction="pick up the red cup", first_frame_number=200),
]
CAMERA = "observation.images.ego_view"


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes_v3")
    write_synthetic_episodes(root, SPECS)
    return root


@pytest.fixture(scope="module")
def datasets(bags, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds_v3")
    for version in ("v2.1", "v3.0"):
        export_episodes(find_bags([bags]), out / version, ExportConfig(format_version=version))
    return {"v2.1": out / "v2.1", "v3.0": out / "v3.0"}


def test_v3_layout_follows_the_format_description(datasets):
    root = datasets["v3.0"]
    assert validate_dataset(root) == []
    info = json.loads((root / fmt.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30  # the camera's rate (fps not given)
    assert "total_chunks" not in info and "total_videos" not in info
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert (info["data_files_size_in_mb"], info["video_files_size_in_mb"]) == (100, 200)
    assert info["features"]["action"]["fps"] == 30 and "fps" not in info["features"][CAMERA]
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 61 + 31 + 31, 2)
    # all three episodes share one data file and one video file
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet")) == [
        "data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet"]
    assert [p.relative_to(root).as_posix() for p in root.rglob("*.mp4")] == [f"videos/{CAMERA}/chunk-000/file-000.mp4"]
    tasks = pq.read_table(root / fmt.V30_TASKS_PATH)
    pandas_meta = json.loads(tasks.schema.metadata[b"pandas"])
    assert pandas_meta["index_columns"] == ["task"]  # pd.read_parquet: the task text is the index
    assert tasks.column("task").to_pylist() == ["pick up the red cup", "open the drawer"]
    assert tasks.column("task_index").to_pylist() == [0, 1]
    rows = read_v30_episode_rows(root)
    assert [(r["episode_index"], r["length"], r["tasks"]) for r in rows] == [
        (0, 61, ["pick up the red cup"]), (1, 31, ["open the drawer"]), (2, 31, ["pick up the red cup"])]
    assert [(r["dataset_from_index"], r["dataset_to_index"]) for r in rows] == [(0, 61), (61, 92), (92, 123)]
    assert [r[f"videos/{CAMERA}/from_timestamp"] for r in rows] == pytest.approx([0.0, 61 / 30, 92 / 30])
    assert [r[f"videos/{CAMERA}/to_timestamp"] for r in rows] == pytest.approx([61 / 30, 92 / 30, 123 / 30])
    assert rows[1]["stats/action/count"] == [31] and np.asarray(rows[0][f"stats/{CAMERA}/mean"]).shape == (3, 1, 1)
    assert {"meta/episodes/chunk_index", "meta/episodes/file_index", "data/chunk_index"} <= set(rows[0])
    stats = json.loads((root / fmt.STATS_PATH).read_text())
    assert stats["action"]["count"] == [123]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.column("index").to_pylist() == list(range(123))
    assert data.column("frame_index").to_pylist()[59:63] == [59, 60, 0, 1]
    with av.open(str(root / f"videos/{CAMERA}/chunk-000/file-000.mp4")) as container:
        assert sum(1 for p in container.demux(container.streams.video[0]) if p.size) == 123


def test_reader_gives_the_same_samples_from_v21_and_v3(datasets):
    cfg = LeRobotReaderConfig(image_size=(48, 64))
    v2, v3 = LeRobotDataset(datasets["v2.1"], cfg), LeRobotDataset(datasets["v3.0"], cfg)
    assert len(v2) == len(v3) == 123 and v3.tasks == v2.tasks
    np.testing.assert_array_equal(v2.state, v3.state)
    np.testing.assert_array_equal(v2.action, v3.action)
    for key in ("min", "max", "mean", "std"):
        np.testing.assert_allclose(getattr(v3.stats.action, key), getattr(v2.stats.action, key), rtol=1e-9)
    # episode 1 starts 61 frames into the shared mp4: its frame 0 is the camera frame numbered 100
    assert [decode_frame_number(f) for f in v3.frames_at(1, [0, 1, 30])] == [100, 101, 130]
    assert [decode_frame_number(f) for f in v3.frames_at(2, [0, 30])] == [200, 230]
    for i in (0, 60, 61, 100, 122):
        a, b = v2[i], v3[i]
        assert (a["episode_index"], a["frame_index"], a["task"]) == (b["episode_index"], b["frame_index"], b["task"])
        assert [decode_frame_number(f.numpy()) for f in a["video"]] == [decode_frame_number(f.numpy()) for f in b["video"]]
        np.testing.assert_array_equal(a["action"].numpy(), b["action"].numpy())
    only = LeRobotDataset(datasets["v3.0"], cfg, episodes=[2])
    assert len(only) == 31 and only[0]["task"] == "pick up the red cup"
    assert load_dataset_meta(datasets["v3.0"]).episodes[2].videos[CAMERA][1] == 92


def test_v3_writer_rolls_files_and_chunks_by_size(tmp_path):
    spec = DatasetSpec(fps=10, video_sizes={"ego_view": (32, 32)}, format_version="v3.0", chunks_size=2,
                       data_file_size_mb=1e-6, video_file_size_mb=1e-6)  # every episode starts new files
    writer = LeRobotDatasetWriter(tmp_path / "ds", spec)
    for e in range(3):
        n = 40 + e  # long enough for the encoder to emit packets within the episode (it buffers a few)
        frames = (encode_frame_number(100 * e + k, 32, 32) for k in range(n))
        writer.add_episode("wave", np.full((n, 14), e, np.float32), np.full((n, 14), e, np.float32), {"ego_view": frames})
    root = writer.finalize()
    assert validate_dataset(root) == []
    assert sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.parquet")) == [
        "data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet", "data/chunk-001/file-000.parquet"]
    assert len(list((root / "videos" / CAMERA).rglob("*.mp4"))) == 3
    rows = read_v30_episode_rows(root)
    assert [(r["data/chunk_index"], r["data/file_index"]) for r in rows] == [(0, 0), (0, 1), (1, 0)]
    assert [r[f"videos/{CAMERA}/from_timestamp"] for r in rows] == [0.0, 0.0, 0.0]
    ds = LeRobotDataset(root, LeRobotReaderConfig(image_size=(32, 32)))
    assert [decode_frame_number(f) for f in ds.frames_at(2, [0, 41])] == [200, 241]
    np.testing.assert_array_equal(ds.state[-1], np.full(14, 2.0))


def test_v3_writer_refuses_to_go_on_after_a_half_written_episode(tmp_path):
    spec = DatasetSpec(fps=10, video_sizes={"ego_view": (32, 32)}, format_version="v3.0")
    writer = LeRobotDatasetWriter(tmp_path / "ds", spec)
    state = np.zeros((5, 14), np.float32)
    with pytest.raises(ValueError, match="camera ego_view: 3 frames for an episode of 5 steps"):
        writer.add_episode("wave", state, state, {"ego_view": (encode_frame_number(k, 32, 32) for k in range(3))})
    with pytest.raises(RuntimeError, match="half-written into a shared v3.0 file"):
        writer.add_episode("wave", state, state, {"ego_view": (encode_frame_number(k, 32, 32) for k in range(5))})
    with pytest.raises(RuntimeError, match="nothing written"):
        writer.finalize()
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


# ---- validator on broken v3.0 datasets -------------------------------------------------------------------
def _episodes_file(root):
    return root / "meta/episodes/chunk-000/file-000.parquet"


def _edit_episodes(root, fn):
    path = _episodes_file(root)
    rows = pq.read_table(path).to_pylist()
    fn(rows)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _drop_column(root, column):
    path = _episodes_file(root)
    table = pq.read_table(path)
    pq.write_table(table.drop_columns([column]), path)


def _truncate_data(root):
    path = root / "data/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(path).slice(0, 100), path)


BROKEN_V3 = {
    "from_timestamp": (lambda d: _edit_episodes(d, lambda rows: rows[1].update({f"videos/{CAMERA}/from_timestamp": 61.5 / 30})),
                       f"episode 1: videos/{CAMERA}/from_timestamp 2.050000 s falls between frames"),
    "dataset_index": (lambda d: _edit_episodes(d, lambda rows: rows[2].update(dataset_from_index=90, dataset_to_index=121)),
                      "episode 2: dataset_from_index is 90, expected 92"),
    "stats": (lambda d: _drop_column(d, "stats/action/mean"),
              "meta/episodes episode 0 action: needs keys ['min', 'max', 'mean', 'std', 'count'], got ['count', 'max'"),
    "tasks": (lambda d: (d / fmt.V30_TASKS_PATH).unlink(), "meta/tasks.parquet: missing"),
    "rows": (_truncate_data, "data/chunk-000/file-000.parquet: has 100 rows, its episodes [0, 1, 2] have 123"),
    "video_short": (lambda d: _edit_episodes(d, lambda rows: rows[2].update({f"videos/{CAMERA}/to_timestamp": 3.5})),
                    f"episode 2: videos/{CAMERA}: [3.066667, 3.500000) s holds 13.000 frames, the episode has 31"),
    "version_templates": (lambda d: _edit_info(d, lambda i: i.update(data_path=fmt.DATA_PATH)),
                          "data_path 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet' must use "
                          "exactly the fields ['chunk_index', 'file_index']"),
    "total_frames": (lambda d: _edit_info(d, lambda i: i.update(total_frames=124)),
                     "total_frames is 124, the episode lengths sum to 123"),
}


def _edit_info(root, fn):
    path = root / fmt.INFO_PATH
    info = json.loads(path.read_text())
    fn(info)
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("case", sorted(BROKEN_V3))
def test_v3_validator_gives_precise_errors(datasets, tmp_path, case):
    bad = tmp_path / "bad"
    shutil.copytree(datasets["v3.0"], bad)
    edit, expected = BROKEN_V3[case]
    edit(bad)
    issues = [str(i) for i in validate_dataset(bad, check_videos=False)]
    assert any(expected in issue for issue in issues), f"{case}: expected {expected!r} in {issues}"


def _corrupt_middle_packet(path, nbytes=4096, seed=0):
    """Overwrite `nbytes` at the start of the middle video packet with random bytes (a bad disk sector)."""
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    pos = packets[len(packets) // 2][0]
    data = bytearray(path.read_bytes())
    data[pos:pos + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_validator_decodes_every_frame_and_quick_says_it_did_not(tmp_path, version, capsys):
    from dit4dit_ros.cli import main

    write_synthetic_episodes(tmp_path / "bags", [SyntheticEpisodeSpec(duration_s=4.0, width=320, height=240, texture=40.0)])
    root = tmp_path / "ds"
    export_episodes(find_bags([tmp_path / "bags"]), root, ExportConfig(format_version=version))
    assert main(["validate-lerobot", str(root)]) == 0
    assert f"valid LeRobot {version} dataset (every video frame decoded)" in capsys.readouterr().out
    (video,) = root.rglob("*.mp4")
    _corrupt_middle_packet(video)
    report = validate(root)
    assert not report.ok and any("decoding failed after" in str(i) for i in report.issues), report.issues
    assert main(["validate-lerobot", str(root)]) == 1
    quick = validate(root, quick=True)  # headers and packet counts cannot see it, and the report says so
    assert quick.ok and quick.notes == ["videos not decoded (quick): headers, sizes and packet counts only"]
    assert main(["validate-lerobot", str(root), "--quick"]) == 0
    assert "(videos not decoded (quick)" in capsys.readouterr().out


def test_export_cli_writes_v3_with_repeated_topic_flags(bags, datasets, tmp_path, capsys):
    from dit4dit_ros.cli import main

    out = tmp_path / "cli_v3"
    # every listed stream must exist (a channel comes from the first stream that carries it): one error line
    assert main(["export-lerobot", str(bags), "-o", str(out), "--format", "v3.0", "--action-topic", "/missing_first",
                 "--action-topic", "/dit4dit/executor/command"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "topic '/missing_first' is not in the bag" in err and not out.exists()
    assert main(["export-lerobot", str(bags), "-o", str(out), "--format", "v3.0", "--state-topic", "/joint_states",
                 "--action-topic", "/dit4dit/executor/command", "--action-topic", "/joint_states"]) == 0
    assert "valid LeRobot v3.0 dataset" in capsys.readouterr().out
    assert json.loads((out / fmt.INFO_PATH).read_text())["codebase_version"] == "v3.0"
    # the command stream carries every arm joint, so /joint_states (listed second) gave none of the actions:
    # the same actions as the default export, which reads the command stream only
    ds = LeRobotDataset(out, LeRobotReaderConfig(image_size=(48, 64)))
    reference = LeRobotDataset(datasets["v3.0"], LeRobotReaderConfig(image_size=(48, 64)))
    np.testing.assert_array_equal(ds.action, reference.action)
    assert not np.array_equal(ds.action, ds.state)
