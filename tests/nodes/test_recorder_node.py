"""Recorder node end to end on a real graph: a publisher process (camera 30 Hz, /joint_states ramp,
executor commands), Unitree LowCmd and Dex3-1 HandCmd on DDS from this process, the recorder node in its own process driven by
its services; then the bag is read back (rosbags + mcap), exported, validated and read by the training
reader with the alignment checked against the publisher's own stamps; finally the recorder is killed with
SIGKILL mid-episode and the partial episode is recovered."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import String, UInt32
from std_srvs.srv import SetBool, Trigger

from dit4dit_ros.data.episode_store import EpisodeStore
from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig
from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes
from dit4dit_ros.data.lerobot_validate import validate_dataset
from dit4dit_ros.data.lowcmd_cdr import lowcmd_from_cdr
from dit4dit_ros.data.synthetic import COMMAND_OFFSET, decode_frame_number
from dit4dit_ros.data.topics import COMMAND_TOPIC, IMAGE_TOPIC, INSTRUCTION_TOPIC, JOINT_STATES_TOPIC
from dit4dit_ros.g1.joints import ARMS, JOINT_INDEX
from dit4dit_ros.nodes.qos import LATCHED
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.nodes.recorder_node import STATUS_TOPIC
from dit4dit_ros.nodes.status_msgs import recorder_status
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ARM_IDX = np.array([JOINT_INDEX[n] for n in ARMS])
INSTRUCTION = "put the cup on the plate"


class Graph:
    """The recorder node process + this process's ROS harness (service clients, status and count topics)."""

    def __init__(self, out, log_path) -> None:
        self.out = out
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dit4dit_ros.nodes.recorder_node", "--ros-args",
             "-p", f"output_dir:={out}", "-p", "min_free_mb:=0.0", "-p", "reserve_free_mb:=0.0",
             "-p", "dds_command_topics:=rt/lowcmd,rt/dex3/left/cmd", "-p", "status_period_s:=0.2"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.harness = RosHarness()
        probe = self.harness.probe
        self.status = self.harness.collect(DiagnosticStatus, "/dit4dit/recorder/status", LATCHED)
        self.count = self.harness.collect(UInt32, "/dit4dit/recorder/episode_count", LATCHED)
        self.instruction = probe.create_publisher(String, INSTRUCTION_TOPIC, LATCHED)
        self.clients = {name: probe.create_client(Trigger, f"/dit4dit/recorder/{name}")
                        for name in ("start", "stop", "discard")}
        self.clients["mark_success"] = probe.create_client(SetBool, "/dit4dit/recorder/mark_success")

    def call(self, name: str, data: bool | None = None):
        client = self.clients[name]
        wait_until(client.service_is_ready, 30.0, poll=0.05, what=f"service /dit4dit/recorder/{name}")
        request = client.srv_type.Request()
        if data is not None:
            request.data = data
        future = client.call_async(request)
        wait_until(future.done, 30.0, poll=0.01, what=f"/dit4dit/recorder/{name} response")
        return future.result()

    def latest_status(self) -> dict:
        snap = self.status.snapshot()
        return recorder_status(snap[-1][1]) if snap else {}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.harness.shutdown()
        self.log.close()


def _run_publisher(tmp_path, name: str, duration: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dit4dit_ros.nodes.synthetic_publisher", "--duration", str(duration),
         "--width", "320", "--height", "240", "--image-rate", "30", "--state-rate", "200", "--command-rate", "100",
         "--json-out", str(tmp_path / f"{name}.json"), "--wait-recorder", STATUS_TOPIC],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


class LowCmdSender:
    """Sends rt/lowcmd at 100 Hz from a thread, q[left_shoulder_pitch] = 0.001 * k, and the left Dex3-1 hand's
    rt/dex3/left/cmd (unitree_sdk2py HandCmd_), motor i's q = 0.001 * k + 0.1 * i."""

    def __init__(self) -> None:
        from unitree_sdk2py.core.channel import ChannelPublisher
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_

        from dit4dit_ros.g1.dds import LowCmdWriter, init_unitree_dds
        from dit4dit_ros.g1.lowcmd import ControlPath

        init_unitree_dds()
        self.writer = LowCmdWriter(ControlPath.LOWCMD)
        self.hand = ChannelPublisher("rt/dex3/left/cmd", HandCmd_)
        self.hand.Init()
        self.sent: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from dit4dit_ros.g1.joints import NUM_JOINTS
        from dit4dit_ros.g1.lowcmd import MotorCommand, build_lowcmd

        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, MotorCmd_

        k = 0
        while not self.stop.is_set() and k < 3000:
            q = np.zeros(NUM_JOINTS)
            q[JOINT_INDEX["left_shoulder_pitch_joint"]] = 0.001 * k
            self.writer.write(build_lowcmd(MotorCommand.hold(q), mode_machine=5))
            motors = [MotorCmd_(mode=1, q=0.001 * k + 0.1 * i, dq=0.0, tau=0.0, kp=1.5, kd=0.1, reserve=0)
                      for i in range(7)]
            self.hand.Write(HandCmd_(motor_cmd=motors, reserve=[0, 0, 0, 0]))
            self.sent.append(0.001 * k)
            k += 1
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.writer.close()
        if self.hand is not None:  # the SDK's Close fails when called twice
            self.hand.Close()
            self.hand = None


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recorder_node")
    out = tmp / "episodes"
    graph = Graph(out, tmp / "recorder.log")
    lowcmd = None
    try:
        graph.instruction.publish(String(data=INSTRUCTION))
        wait_until(lambda: graph.latest_status().get("next_instruction") == INSTRUCTION, 30.0,
                   what="the recorder to receive the latched instruction")
        assert graph.count.snapshot()[-1][1].data == 0
        stop_idle = graph.call("stop")
        assert not stop_idle.success and "nothing to stop" in stop_idle.message

        start = graph.call("start")
        assert start.success, start.message
        assert not graph.call("start").success  # already recording
        assert graph.latest_status()["matched_publishers"][IMAGE_TOPIC] == 0  # no camera yet
        lowcmd = LowCmdSender()
        publisher = _run_publisher(tmp, "episode0", 2.0)
        _, err = publisher.communicate(timeout=90)
        assert publisher.returncode == 0, err
        # the publisher waited for the recorder's readers to match it; when it is gone they report 0 again
        wait_until(lambda: graph.latest_status()["matched_publishers"][IMAGE_TOPIC] == 0, 15.0,
                   what="the recorder to report the camera publisher gone")
        lowcmd.close()
        sent = json.loads((tmp / "episode0.json").read_text())

        def all_received() -> bool:
            received = graph.latest_status().get("received", {})
            return all(received.get(t, 0) >= n for t, n in sent["sent"].items() if t != IMAGE_TOPIC)

        try:
            wait_until(all_received, 10.0, what="every reliable message at the recorder")
        except TimeoutError:
            pass  # the assertions below report what is missing
        mark = graph.call("mark_success", True)
        assert mark.success and "marked success" in mark.message
        stop = graph.call("stop")
        assert stop.success, stop.message
        wait_until(lambda: graph.count.snapshot()[-1][1].data == 1, 10.0, what="episode_count 1")
        yield {"tmp": tmp, "out": out, "graph": graph, "sent": sent, "lowcmd_sent": list(lowcmd.sent)}
    finally:
        if lowcmd is not None:
            lowcmd.close()
        graph.close()


def test_episode_bag_holds_every_stream(recorded):
    out, sent = recorded["out"], recorded["sent"]
    episode = out / "episode_000000"
    info = EpisodeStore.read_info(episode)
    assert info.status == "complete" and info.success is True and info.instruction == INSTRUCTION
    with Reader(episode) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    for topic in (JOINT_STATES_TOPIC, COMMAND_TOPIC):  # reliable streams: nothing lost
        assert counts[topic] == sent["sent"][topic], (topic, counts, info.transport_gaps)
    images = counts[IMAGE_TOPIC]
    assert images >= 0.95 * sent["sent"][IMAGE_TOPIC], (counts, info.transport_gaps)
    assert images + info.transport_gaps[IMAGE_TOPIC] <= sent["sent"][IMAGE_TOPIC]
    assert counts[INSTRUCTION_TOPIC] >= 1
    # Unitree LowCmd from DDS, stored as unitree_hg/msg/LowCmd: q values in the order they were sent
    with Reader(episode) as reader:
        conns = [c for c in reader.connections if c.topic == "/lowcmd"]
        assert conns and conns[0].msgtype == "unitree_hg/msg/LowCmd"
        q = [lowcmd_from_cdr(d).q[JOINT_INDEX["left_shoulder_pitch_joint"]] for _, _, d in reader.messages(conns)]
    assert len(q) >= 50 and np.all(np.diff(q) > 0)
    np.testing.assert_allclose(q, np.round(np.asarray(q) / 0.001) * 0.001, atol=1e-6)
    assert set(np.round(np.asarray(q) / 0.001).astype(int)) <= set(np.round(np.asarray(recorded["lowcmd_sent"]) / 0.001).astype(int))
    # Dex3-1 HandCmd from DDS, stored as unitree_hg/msg/HandCmd: 7 motors in order, as sent
    from dit4dit_ros.data.handcmd_cdr import handcmd_q_from_cdr

    with Reader(episode) as reader:
        conns = [c for c in reader.connections if c.topic == "/dex3/left/cmd"]
        assert conns and conns[0].msgtype == "unitree_hg/msg/HandCmd"
        hand = np.array([handcmd_q_from_cdr(d) for _, _, d in reader.messages(conns)])
    assert hand.shape[0] >= 50 and hand.shape[1] == 7 and np.all(np.diff(hand[:, 0]) > 0)
    np.testing.assert_allclose(hand - hand[:, :1], np.tile(0.1 * np.arange(7), (len(hand), 1)), atol=1e-5)
    # the independent mcap reader decodes every message, LowCmd included (schema embedded in the file)
    with open(episode / "episode_000000.mcap", "rb") as f:
        decoded = {}
        for _, channel, _, msg in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            decoded[channel.topic] = decoded.get(channel.topic, 0) + 1
    assert decoded == counts


def _header_stamps_s(bag_dir, topic: str) -> np.ndarray:
    from dit4dit_ros.data.bag_reader import header_stamp_ns

    with Reader(bag_dir) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return np.array([header_stamp_ns(d) * 1e-9 for _, _, d in reader.messages(conns)])


def test_export_validates_and_reader_is_aligned_with_the_publisher_clock(recorded):
    """Checked against what the publisher stamped, so CPU stalls of the publisher cannot fail it."""
    tmp, out, sent = recorded["tmp"], recorded["out"], recorded["sent"]
    dataset = tmp / "dataset"
    (report,) = export_episodes([out / "episode_000000"], dataset, ExportConfig(fps=30))
    assert validate_dataset(dataset) == []
    assert report.frames >= 50
    table = pq.read_table(dataset / "data/chunk-000/episode_000000.parquet")
    state = np.asarray(table.column("observation.state").to_pylist())
    action = np.asarray(table.column("action").to_pylist())
    slope, base = sent["ramp_slope"], sent["base_ns"] * 1e-9
    joint_offset = 0.01 * ARM_IDX
    # the state is the ramp at each frame time: recover the frame times, they are exactly 1/30 s apart
    grid_s = (state - joint_offset) / slope + base
    np.testing.assert_allclose(grid_s - grid_s[:, :1], 0.0, atol=2e-5)
    grid_s = grid_s[:, 0]
    np.testing.assert_allclose(np.diff(grid_s), 1 / 30, atol=5e-5)
    # the action is the command with the last stamp at or before each frame time
    command_stamps = _header_stamps_s(out / "episode_000000", COMMAND_TOPIC)
    used = (action[:, 0] - COMMAND_OFFSET - joint_offset[0]) / slope + base
    expected = command_stamps[np.searchsorted(command_stamps, grid_s + 1e-6, side="right") - 1]
    np.testing.assert_allclose(used, expected, atol=2e-5)
    # each video frame is the recorded camera frame stamped nearest to the frame time
    image_stamps = _header_stamps_s(out / "episode_000000", IMAGE_TOPIC)
    published = np.asarray(sent["image_stamps"]) * 1e-9
    ds = LeRobotDataset(dataset, LeRobotReaderConfig(image_size=(240, 320)))
    numbers = np.array([decode_frame_number(f) for f in ds.frames_at(0, range(len(grid_s)))])
    nearest = image_stamps[np.abs(image_stamps[None, :] - grid_s[:, None]).argmin(1)]
    np.testing.assert_allclose(published[numbers], nearest, atol=1e-6)
    assert report.max_image_offset_ms == pytest.approx(np.abs(nearest - grid_s).max() * 1e3, abs=0.01)
    # the training reader: contract shapes, frames f, f+2, ..., actions f..f+15 from the same rows
    train = LeRobotDataset(dataset)
    s = train[5]
    assert s["video"].shape == (9, 3, 224, 224) and s["state"].shape == (64,) and s["action"].shape == (16, 32)
    assert s["task"] == INSTRUCTION
    assert [decode_frame_number(f.numpy()) for f in s["video"]] == list(numbers[5:22:2])
    np.testing.assert_allclose(train.codec.unnormalize_action(s["action"].numpy()), action[5:21], atol=1e-5)


def test_kill_9_mid_episode_then_recover(recorded):
    tmp, out, graph = recorded["tmp"], recorded["out"], recorded["graph"]
    assert graph.call("start").success
    publisher = _run_publisher(tmp, "episode1", 8.0)
    try:
        wait_until(lambda: graph.latest_status().get("received", {}).get(IMAGE_TOPIC, 0) >= 25, 40.0,
                   what="25 images of the second episode at the recorder")
        os.kill(graph.proc.pid, signal.SIGKILL)
        graph.proc.wait(timeout=10)
    finally:
        publisher.kill()
        publisher.wait(timeout=10)
    partial = out / ".partial" / "episode_000001"
    assert EpisodeStore.read_info(partial).status == "recording"
    with Reader(out / "episode_000000") as reader:  # the earlier episode is intact
        assert reader.message_count > 0
    from dit4dit_ros.cli import main

    assert main(["record", "--recover", str(out)]) == 0
    info = EpisodeStore.read_info(out / "episode_000001")
    assert info.status == "recovered" and info.instruction == INSTRUCTION
    assert info.message_counts[IMAGE_TOPIC] >= 5
    with Reader(out / "episode_000001") as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[IMAGE_TOPIC] == info.message_counts[IMAGE_TOPIC]
    assert not partial.exists()


def test_ctrl_c_mid_episode_finishes_it(tmp_path):
    out = tmp_path / "episodes"
    with open(tmp_path / "recorder.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dit4dit_ros.nodes.recorder_node", "--ros-args", "-p", f"output_dir:={out}",
             "-p", "min_free_mb:=0.0", "-p", "reserve_free_mb:=0.0", "-p", "auto_start:=true",
             "-p", "instruction:=wave"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            started = out / ".partial" / "episode_000000" / "episode.json"
            wait_until(lambda: started.is_file() or proc.poll() is not None, 30.0, what="the auto-started episode")
            assert proc.poll() is None, (tmp_path / "recorder.log").read_text()[-2000:]
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
    info = EpisodeStore.read_info(out / "episode_000000")
    assert info.status == "complete" and info.instruction == "wave"
    assert not (out / ".partial" / "episode_000000").exists()
    with Reader(out / "episode_000000") as reader:
        assert {c.topic for c in reader.connections} >= {IMAGE_TOPIC, JOINT_STATES_TOPIC, COMMAND_TOPIC}
