"""Rerun: the live bridge's recording (entities, timeline), the eval recording, and the web viewer in a real headless
Chromium showing the robot."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.sim]


BACKGROUND = (20, 40, 120)  # the test's 3D view background: a colour nothing else on the page has


def _robot_recording(path, blueprint=None) -> None:
    """A small recording: the G1 (meshes) in its hold pose."""
    import rerun as rr

    from dit4dit_ros.g1.model import build_robot_model
    from dit4dit_ros.monitor.rerun_view import RerunRobotView, default_blueprint
    from dit4dit_ros.sim.robot import HOLD_POSE

    rec = rr.RecordingStream("dit4dit_test")
    rec.save(str(path), default_blueprint=blueprint or default_blueprint(with_scene_camera=False))
    view = RerunRobotView(rec, build_robot_model())
    view.log_static(image_size=(48, 64))
    for k in range(3):
        rec.set_time("sim_time", duration=0.1 * k)
        view.pose(HOLD_POSE)
        view.log_poses()
        view.log_ego_image(np.full((48, 64, 3), 90 + 40 * k, np.uint8))
    rec.flush()
    rec.disconnect()


def test_robot_recording_has_the_robot_entities_and_time_range(tmp_path):
    from dit4dit_ros.evaluation.recording import recording_summary

    path = tmp_path / "robot.rrd"
    _robot_recording(path)
    s = recording_summary(path)
    assert {"/world/g1/pelvis", "/world/g1/right_wrist_yaw_link", "/world/g1/torso_link/head_camera"} <= s.entities
    assert any(e.startswith("/world/g1/right_elbow_link/geom_") for e in s.entities)
    assert s.time_range["sim_time"] == pytest.approx((0.0, 0.2))


@pytest.mark.ros
def test_live_bridge_records_robot_chunks_cameras_and_plots(tmp_path):
    import rerun as rr
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.node import Node
    from sensor_msgs.msg import CompressedImage, JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from dit4dit_ros.evaluation.recording import recording_summary
    from dit4dit_ros.g1.joints import JOINT_NAMES, RIGHT_ARM
    from dit4dit_ros.nodes.image_conversion import image_to_compressed_msg
    from dit4dit_ros.nodes.qos import COMMANDS, LATCHED, SENSOR_DATA
    from dit4dit_ros.nodes.rerun_bridge import RerunBridge
    from dit4dit_ros.nodes.status_msgs import OK, executor_state_msg, task_status_to_msg
    from dit4dit_ros.nodes.probe import RosHarness
    from dit4dit_ros.sim.tasks import TaskStatus
    from dit4dit_ros.utils.waiting import wait_until

    path = tmp_path / "live.rrd"
    rec = rr.RecordingStream("dit4dit_live_test")
    rec.save(str(path))
    with RosHarness() as ros:
        bridge = RerunBridge(ros.add(Node("rerun_bridge", context=ros.context)), rec, scene="sim")
        pubs = {
            "joints": ros.probe.create_publisher(JointState, "/joint_states", SENSOR_DATA),
            "command": ros.probe.create_publisher(JointState, "/dit4dit/executor/command", SENSOR_DATA),
            "chunk": ros.probe.create_publisher(JointTrajectory, "/dit4dit/action_chunk", COMMANDS),
            "image": ros.probe.create_publisher(CompressedImage, "/camera/ego/image_raw/compressed", SENSOR_DATA),
            "task": ros.probe.create_publisher(DiagnosticStatus, "/dit4dit/sim/task", LATCHED),
            "executor": ros.probe.create_publisher(DiagnosticStatus, "/dit4dit/executor/state", SENSOR_DATA),
        }
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 15, what="bridge subscriptions")
        for k in range(5):  # 5 joint states 0.1 s apart, stamped 10.0 .. 10.4 s
            js = JointState(name=list(JOINT_NAMES), position=[0.05 * k] * len(JOINT_NAMES))
            js.header.stamp.sec, js.header.stamp.nanosec = 10, k * 100_000_000
            pubs["joints"].publish(js)
            pubs["command"].publish(js)
        chunk = JointTrajectory(joint_names=list(RIGHT_ARM))
        chunk.header.stamp.sec = 10
        chunk.points = [JointTrajectoryPoint(positions=[-0.1 * i, 0, 0, 0, 0, 0, 0]) for i in range(8)]
        pubs["chunk"].publish(chunk)
        image = np.zeros((48, 64, 3), np.uint8)
        image[10:20, 10:30] = (200, 30, 30)
        jpeg = image_to_compressed_msg(image, "rgb8", 80)
        jpeg.header.stamp.sec = 10
        pubs["image"].publish(jpeg)
        pubs["task"].publish(task_status_to_msg(TaskStatus("reach", "touch", 1, False, 0.3, {"hand_cube_distance": 0.2}),
                                                {"mode": "balance", "sim_time": 10.3, "counters": {}}))
        pubs["executor"].publish(executor_state_msg({"mode": "RUNNING"}, OK, "RUNNING"))
        wait_until(lambda: bridge.counts["joint_states"] >= 5 and bridge.counts["chunks"] >= 1
                   and bridge.counts["images"] >= 1 and bridge._mode == "RUNNING", 15, what="bridged messages")
    rec.flush()
    rec.disconnect()
    s = recording_summary(path)
    assert {"/world/g1/right_elbow_link", "/world/scene/table", "/world/g1/pelvis/predicted_paths",
            "/world/g1/torso_link/head_camera", "/plots/joints/right_elbow_joint/measured",
            "/plots/joints/right_elbow_joint/commanded", "/plots/task/hand_cube_distance",
            "/plots/chunks/obs_to_receipt_ms", "/log/executor"} <= s.entities, sorted(s.entities)
    lo, hi = s.time_range["ros_time"]
    assert lo == pytest.approx(10.0) and hi >= 10.3  # message stamps (joint states 10.0-10.4 s, task 10.3 s)


@pytest.mark.slow
def test_web_viewer_shows_the_robot_in_a_headless_browser(tmp_path, chromium):
    """Rerun's web viewer (served on 127.0.0.1 by the `rerun` of the wheel) renders the recorded robot in Chromium."""
    import socket

    from dit4dit_ros.bringup.rerun_monitor import start_viewer, stop_viewer, web_viewer_url

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    import rerun.blueprint as rrb

    from dit4dit_ros.monitor.rerun_view import world_view

    path = tmp_path / "robot.rrd"
    # Only the 3D view, on a solid background without grid: the robot is then what is not background in it.
    _robot_recording(path, rrb.Blueprint(world_view(background=BACKGROUND, line_grid=False), collapse_panels=True))
    viewer = start_viewer(True, ports[0], ports[1], source=str(path), log_path=tmp_path / "rerun.log")

    def robot_pixels(rgb: np.ndarray) -> int:
        """Grey pixels (the G1's links: rgba 0.7 and 0.2, shaded) inside the 3D view, i.e. within the bounding box of
        the background colour; 0 until the view is drawn (the welcome page has no such colour)."""
        background = np.all(np.abs(rgb.astype(int) - BACKGROUND) < 12, axis=2)
        if background.sum() < 0.2 * background.size:
            return 0
        rows, cols = np.where(background)
        view = rgb[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(int)
        grey = (view.max(axis=2) - view.min(axis=2) < 25) & (view.max(axis=2) > 25)
        return int(grey.sum())

    shot = tmp_path / "web_viewer.png"
    try:
        rgb = chromium.screenshot_when(web_viewer_url(ports[1], ports[0]), lambda im: robot_pixels(im) > 3000,
                                       timeout=400, out=shot, poll=5)
    finally:
        stop_viewer(viewer)
    assert robot_pixels(rgb) > 3000, f"no robot in the web viewer's 3D view (screenshot {shot})"


@pytest.mark.ros
def test_monitor_web_serves_the_viewer_on_loopback_only_and_stops_it(tmp_path):
    """`dit4dit monitor --rerun --web`: the web viewer and the gRPC proxy listen on 127.0.0.1 while it runs, and are
    gone (their process group stopped) when it returns."""
    import socket
    import threading
    import urllib.request

    from dit4dit_ros.bringup.rerun_monitor import RerunMonitorOptions, run_rerun_monitor, web_viewer_url
    from dit4dit_ros.utils.waiting import wait_until

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    stop = threading.Event()
    opts = RerunMonitorOptions(web=True, grpc_port=ports[0], web_port=ports[1], scene="robot", duration=120.0)
    thread = threading.Thread(target=run_rerun_monitor, args=(opts, stop))
    thread.start()
    try:
        def page() -> bool:
            try:
                return urllib.request.urlopen(web_viewer_url(ports[1], ports[0]), timeout=2).status == 200
            except OSError:
                return False
        wait_until(page, 60, poll=0.5, what="the web viewer page")
        listening = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
        local = {int(f[1].split(":")[1], 16): f[1].split(":")[0] for f in listening if f[3] == "0A"}  # LISTEN
        assert local.get(ports[0]) == local.get(ports[1]) == "0100007F"  # 127.0.0.1, not 0.0.0.0
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", ports[1])) != 0  # the viewer is gone
