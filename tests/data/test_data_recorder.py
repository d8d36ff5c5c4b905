"""Episode recorder core without ROS: bags readable by rosbags and the mcap reader, atomic episodes,
discard/mark, unwritable paths, disk full (fault injector and a real tiny tmpfs), and kill -9 recovery."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader

from dit4dit_ros.data.bag_writer import EpisodeBagWriter
from dit4dit_ros.data.episode_store import EpisodeInfo, EpisodeStore
from dit4dit_ros.data.lowcmd_cdr import LOWCMD_CDR_SIZE, MOTORCMD_TYPE, lowcmd_from_cdr, lowcmd_to_cdr
from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig, RecorderError
from dit4dit_ros.data.recovery import recover_partials
from dit4dit_ros.data.storage import FaultInjectingFileSystem, StorageError
from dit4dit_ros.data.synthetic import (
    SyntheticEpisodeSpec,
    encode_frame_number,
    image_cdr,
    synthetic_messages,
    write_synthetic_episodes,
)
from dit4dit_ros.data.topics import IMAGE_TOPIC, INSTRUCTION_TOPIC, LOWCMD_TYPE, default_streams, recording_typestore
from dit4dit_ros.utils.waiting import wait_until


def read_ros2_messages(path: str):
    """Decode every message with the independent mcap + mcap-ros2-support reader (schemas from the file)."""
    with open(path, "rb") as f:
        for schema, channel, message, ros_msg in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            yield channel.topic, ros_msg


def _recorder(root: Path, fs=None, **kw) -> EpisodeRecorder:
    kw.setdefault("min_free_mb", 0.0)
    kw.setdefault("reserve_free_mb", 0.0)
    return EpisodeRecorder(RecorderConfig(output_dir=root, streams=default_streams(), **kw), fs=fs)


def _image(k: int, size=(48, 64)) -> bytes:
    return image_cdr(encode_frame_number(k % 1024, *size), 10**12 + k * 33_333_333)


def test_episodes_are_real_rosbag2_mcap_bags(tmp_path):
    spec = SyntheticEpisodeSpec(duration_s=1.0, instruction="stack the cups")
    paths = write_synthetic_episodes(tmp_path, [spec, SyntheticEpisodeSpec(duration_s=0.5, start_ns=2 * 10**12)])
    assert [p.name for p in paths] == ["episode_000000", "episode_000001"]
    sent = {}
    for topic, _, _ in synthetic_messages(spec):
        sent[topic] = sent.get(topic, 0) + 1
    sent[INSTRUCTION_TOPIC] = 1
    with Reader(paths[0]) as reader:  # rosbags: metadata.yaml + MCAP, deserialized with the bag's types
        counts = {c.topic: c.msgcount for c in reader.connections}
        typestore = recording_typestore()
        first_image = next(typestore.deserialize_cdr(d, c.msgtype) for c, _, d in reader.messages()
                           if c.topic == IMAGE_TOPIC)
    assert counts == sent
    assert (first_image.height, first_image.width, first_image.encoding) == (48, 64, "rgb8")
    # the independent mcap + mcap-ros2-support reader decodes every message from the embedded schemas
    decoded = {}
    for topic, ros_msg in read_ros2_messages(str(paths[0] / "episode_000000.mcap")):
        decoded[topic] = decoded.get(topic, 0) + 1
        if topic == INSTRUCTION_TOPIC:
            assert ros_msg.data == "stack the cups"
    assert decoded == sent
    info = json.loads((paths[0] / "episode.json").read_text())
    assert info["status"] == "complete" and info["success"] is True and info["instruction"] == "stack the cups"
    assert info["message_counts"] == sent and info["duration_s"] == pytest.approx(1.0)
    assert not list((tmp_path / ".partial").iterdir())


def test_lowcmd_cdr_matches_the_ros_serializer():
    store = recording_typestore()
    LowCmd, MotorCmd = store.types[LOWCMD_TYPE], store.types[MOTORCMD_TYPE]
    rng = np.random.default_rng(1)
    motors = [MotorCmd(mode=i % 2, q=np.float32(rng.normal()), dq=np.float32(rng.normal()), tau=np.float32(0.5),
                       kp=np.float32(40.0), kd=np.float32(1.0), reserve=i) for i in range(35)]
    msg = LowCmd(mode_pr=1, mode_machine=5, motor_cmd=motors, reserve=np.array([1, 2, 3, 4], np.uint32), crc=0xDEADBEEF)
    data = lowcmd_to_cdr(msg)
    assert len(data) == LOWCMD_CDR_SIZE
    assert data == bytes(store.serialize_cdr(msg, LOWCMD_TYPE))
    parsed = lowcmd_from_cdr(data)
    np.testing.assert_array_equal(parsed.q, np.array([m.q for m in motors], np.float32))
    assert (parsed.mode_pr, parsed.mode_machine, parsed.crc) == (1, 5, 0xDEADBEEF)
    with pytest.raises(ValueError, match="1004 bytes"):
        lowcmd_from_cdr(data[:-4])


def test_discard_mark_and_state_errors(tmp_path):
    rec = _recorder(tmp_path)
    try:
        with pytest.raises(RecorderError, match="nothing to stop"):
            rec.stop()
        with pytest.raises(RecorderError, match="nothing to discard"):
            rec.discard()
        assert rec.start("a") == 0
        with pytest.raises(RecorderError, match="already recording episode 0"):
            rec.start("b")
        assert rec.offer(IMAGE_TOPIC, 1, _image(0))
        with pytest.raises(ValueError, match="not a recorded stream"):
            rec.offer("/unknown", 1, b"\x00\x01\x00\x00")
        assert "discarded episode 0" in rec.discard()
        assert not (tmp_path / ".partial" / "episode_000000").exists()
        assert rec.start("b") == 0  # nothing of the discarded recording is left: its index is free again
        assert "marked failure" in rec.mark_success(False)
        result = rec.stop()
        assert result.ok and result.info.success is False
        assert "episode 0 marked success" in rec.mark_success(True)
        assert EpisodeStore.read_info(tmp_path / "episode_000000").success is True
        assert "moved episode 0" in rec.discard()  # idle: the last finished episode goes to .discarded/
        assert (tmp_path / ".discarded" / "episode_000000" / "episode.json").is_file()
        assert rec.start("c") == 1  # a discarded (kept) episode's index is not reused
        rec.stop()
        assert rec.status()["episodes"] == 1
    finally:
        rec.close()
    assert not rec.offer(IMAGE_TOPIC, 3, _image(3))  # closed: nothing is recorded


def test_unwritable_output_directories_give_clear_errors(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match=r"cannot record episodes into .*a_file.*not a directory"):
        _recorder(blocker / "episodes")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    if os.geteuid() != 0:
        readonly.chmod(0o555)
        expected = "permission denied"
    else:  # root ignores permission bits: use a read-only mount when this machine allows mounting
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(readonly)],
                          capture_output=True).returncode != 0:
            pytest.skip("running as root without permission to mount a read-only tmpfs")
        expected = "read-only"
    try:
        with pytest.raises(StorageError, match=rf"cannot record episodes into .*readonly.*{expected}"):
            _recorder(readonly / "episodes")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(readonly)], check=False)
        else:
            readonly.chmod(0o755)


def test_low_free_space_refuses_to_start(tmp_path):
    fs = FaultInjectingFileSystem(budget_bytes=50_000_000)
    rec = _recorder(tmp_path, fs=fs, min_free_mb=100.0)
    try:
        with pytest.raises(StorageError, match=r"only 50\.0 MB free.*min_free_mb"):
            rec.start("x")
    finally:
        rec.close()


def test_disk_full_fails_the_episode_clearly_and_keeps_earlier_ones(tmp_path):
    fs = FaultInjectingFileSystem(budget_bytes=4_000_000)
    rec = _recorder(tmp_path, fs=fs)
    try:
        rec.start("first")
        for k in range(20):  # ~200 KB: fits
            assert rec.offer(IMAGE_TOPIC, k, _image(k))
        first = rec.stop()
        assert first.ok
        rec.start("second")
        big = _image(0, size=(240, 320))  # 230 KB per message; the budget runs out after ~15
        for k in range(60):
            if not rec.offer(IMAGE_TOPIC, 100 + k, big):
                break
        wait_until(lambda: rec.last_error is not None, 10.0, what="the disk-full error")
        assert "episode 1 failed" in rec.last_error and "disk is full" in rec.last_error and "ENOSPC" in rec.last_error
        assert not rec.recording
        with pytest.raises(RecorderError, match="disk is full"):
            rec.stop()
    finally:
        rec.close()
    failed = tmp_path / ".partial" / "episode_000001.failed"
    assert failed.is_dir() and not (tmp_path / "episode_000001").exists()
    with Reader(first.path) as reader:  # the earlier episode is untouched
        assert {c.topic: c.msgcount for c in reader.connections}[IMAGE_TOPIC] == 20
    # once space is back, what was written before the failure can be salvaged
    (result,) = recover_partials(EpisodeStore(tmp_path))
    assert result.recovered and 0 < result.message_counts[IMAGE_TOPIC] < 60
    info = EpisodeStore.read_info(tmp_path / "episode_000001")
    assert info.status == "recovered" and "failed" in info.error


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN); the fault-injector test covers ENOSPC")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_enospc_on_a_tiny_tmpfs(tiny_tmpfs):
    rec = _recorder(tiny_tmpfs)
    big = _image(0, size=(240, 320))
    try:
        rec.start("fill the disk")
        for k in range(40):  # 9 MB into 3 MB
            rec.offer(IMAGE_TOPIC, k, big)
        wait_until(lambda: rec.last_error is not None, 10.0, what="ENOSPC from the kernel")
    finally:
        rec.close()
    assert "disk is full" in rec.last_error and "ENOSPC" in rec.last_error
    assert (tiny_tmpfs / ".partial" / "episode_000000.failed").is_dir()


def test_reserve_free_space_stops_the_episode_early_and_keeps_it(tiny_tmpfs):
    rec = _recorder(tiny_tmpfs, min_free_mb=2.5, reserve_free_mb=2.2)
    big = _image(0, size=(240, 320))
    try:
        rec.start("nearly full")
        for k in range(8):  # the first 1 MB chunk leaves < 2.2 MB free: stop early, long before ENOSPC
            rec.offer(IMAGE_TOPIC, k, big)
        wait_until(lambda: rec.status()["last_finished"] == 0, 10.0, what="the early stop")
    finally:
        rec.close()
    info = EpisodeStore.read_info(tiny_tmpfs / "episode_000000")
    assert info.status == "complete" and "stopped early" in info.error
    assert 0 < info.message_counts[IMAGE_TOPIC] <= 8


_CRASH_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig
    from dit4dit_ros.data.synthetic import encode_frame_number, image_cdr
    from dit4dit_ros.data.topics import IMAGE_TOPIC, default_streams
    rec = EpisodeRecorder(RecorderConfig(Path(sys.argv[1]), default_streams(), min_free_mb=0.0, reserve_free_mb=0.0))
    rec.start("complete one")
    for k in range(10):
        rec.offer(IMAGE_TOPIC, k, image_cdr(encode_frame_number(k, 240, 320), k))
    rec.stop(success=True)
    rec.start("interrupted one")
    k = 0
    while True:  # record until killed
        rec.offer(IMAGE_TOPIC, 10**9 + k, image_cdr(encode_frame_number(k % 1024, 240, 320), k))
        k += 1
        if k == 30:
            print("recording", flush=True)
        time.sleep(0.01)
""")


def test_kill_9_mid_episode_keeps_earlier_episodes_and_the_partial_is_recoverable(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _CRASH_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recording"
        wait_until(lambda: sum(f.stat().st_size for f in (tmp_path / ".partial" / "episode_000001").glob("*.mcap"))
                   > 2_000_000, 20.0, what="2 MB of the second episode on disk")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    store = EpisodeStore(tmp_path)
    (done,) = store.episodes()
    assert done.info.status == "complete" and done.info.success is True
    with Reader(done.path) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[IMAGE_TOPIC] == 10
    partial = tmp_path / ".partial" / "episode_000001"
    assert EpisodeStore.read_info(partial).status == "recording"  # clearly marked as unfinished
    assert store.next_index() == 2
    # the CLI salvages it: a closed bag, readable by both readers, status "recovered"
    from dit4dit_ros.cli import main

    assert main(["record", "--recover", str(tmp_path)]) == 0
    recovered = tmp_path / "episode_000001"
    info = EpisodeStore.read_info(recovered)
    assert info.status == "recovered" and info.instruction == "interrupted one"
    n = info.message_counts[IMAGE_TOPIC]
    assert n >= 5  # at least one complete 1 MB chunk (5 images of 230 KB) was on disk
    with Reader(recovered) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[IMAGE_TOPIC] == n
    assert sum(1 for _ in read_ros2_messages(str(recovered / "episode_000001.mcap"))) == n
    assert not partial.exists()


def test_recovery_marks_an_empty_partial_as_failed(tmp_path):
    store = EpisodeStore(tmp_path)
    # what a recorder killed right after start leaves: episode.json "recording" and an MCAP with no chunk yet
    partial = store.partial_dir(0)
    writer = EpisodeBagWriter(partial, default_streams())
    writer.open()
    store.write_info(partial, EpisodeInfo(episode_index=0, instruction="nothing written"))
    writer.abort()
    (result,) = recover_partials(store)
    assert not result.recovered and "nothing to recover" in result.reason
    assert result.path.name == "episode_000000.failed"
    assert EpisodeStore.read_info(result.path).status == "failed"
    assert store.episodes() == [] and store.next_index() == 1


def test_fault_injector_raises_enospc_at_the_budget(tmp_path):
    fs = FaultInjectingFileSystem(budget_bytes=10)
    with pytest.raises(OSError) as info:
        fs.write_atomic(tmp_path / "x.json", b"0123456789abc")
    assert info.value.errno == errno.ENOSPC
    assert fs.free_bytes(tmp_path) == 0


def test_recorder_params_file_matches_the_node_declaration(repo_root):
    from dit4dit_ros.config import check_parameter_file
    from dit4dit_ros.nodes.recorder_node import NODE_NAME, PARAMETERS

    effective = check_parameter_file(Path(repo_root, "config", "recorder.yaml"), {NODE_NAME: PARAMETERS},
                                     require_all_nodes=True)
    assert effective["recorder"]["command_topic"] == "/dit4dit/executor/command"
