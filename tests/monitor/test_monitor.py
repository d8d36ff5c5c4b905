"""Monitor: forward kinematics of chunks and the RViz markers / diagnostics of the monitor node."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from dit4dit_ros.g1.joints import RIGHT_ARM
from dit4dit_ros.g1.kinematics import HandKinematics
from dit4dit_ros.nodes.qos import COMMANDS, LATCHED
from dit4dit_ros.utils.waiting import wait_until


@pytest.fixture(scope="module")
def kin():
    return HandKinematics()


def test_shoulder_pitch_moves_the_right_palm_forward_and_up_only(kin):
    rest = kin.site_paths(RIGHT_ARM, np.zeros((1, 7)))
    raised = kin.site_paths(RIGHT_ARM, np.array([[-1.0, 0, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(raised[0], rest[0])  # the left palm does not move
    assert raised[1, 0, 2] > rest[1, 0, 2] + 0.1  # right palm goes up when the shoulder pitches forward
    # Distance from the shoulder is preserved by a pure shoulder rotation: palms stay at arm's length.
    assert np.linalg.norm(raised[1, 0] - rest[1, 0]) > 0.1


def test_kinematics_rejects_bad_input(kin):
    with pytest.raises(ValueError, match=r"positions must be \(H, 7\)"):
        kin.site_paths(RIGHT_ARM, np.zeros((3, 6)))
    with pytest.raises(ValueError, match="unknown joint names"):
        kin.site_paths(["elbow"], np.zeros((1, 1)))


@pytest.mark.ros
def test_monitor_node_draws_chunks_and_reports_timing():
    from dit4dit_ros.nodes.monitor_node import MonitorNode
    from dit4dit_ros.nodes.probe import RosHarness

    with RosHarness() as ros:
        markers = ros.collect(MarkerArray, "/dit4dit/markers", LATCHED)
        diags = ros.collect(DiagnosticArray, "/diagnostics", 10)
        ros.make_node(MonitorNode)
        wait_until(lambda: any(s.message == "no action chunk received yet" for _, a in diags.snapshot() for s in a.status),
                   10, what="a 'no chunk' diagnostic")
        pub = ros.probe.create_publisher(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        wait_until(lambda: pub.get_subscription_count() > 0, 10, what="monitor subscription")
        msg = JointTrajectory(joint_names=list(RIGHT_ARM))
        msg.header.stamp = ros.probe.get_clock().now().to_msg()
        for k in range(16):
            msg.points.append(JointTrajectoryPoint(positions=[-0.05 * k, 0, 0, 0, 0, 0, 0]))
        pub.publish(msg)
        wait_until(lambda: len(markers) > 0, 10, what="markers")
        arr = markers.snapshot()[-1][1]
        strips = [m for m in arr.markers if m.type == Marker.LINE_STRIP]
        assert len(strips) == 2 and all(len(m.points) == 16 for m in strips)
        right = strips[1].points
        assert right[-1].z > right[0].z  # the drawn path follows the raised arm
        assert any(m.type == Marker.TEXT_VIEW_FACING and "Hz" in m.text for m in arr.markers)


@pytest.mark.ros
def test_monitor_fades_older_chunks_shows_the_executor_mode_and_the_camera_frustum():
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import CameraInfo

    from dit4dit_ros.nodes.monitor_node import MonitorNode
    from dit4dit_ros.nodes.qos import SENSOR_DATA
    from dit4dit_ros.nodes.status_msgs import OK, executor_state_msg
    from dit4dit_ros.nodes.probe import RosHarness
    from rclpy.parameter import Parameter

    with RosHarness() as ros:
        markers = ros.collect(MarkerArray, "/dit4dit/markers", LATCHED)
        ros.make_node(MonitorNode, parameter_overrides=[Parameter("history", value=3)])
        chunks = ros.probe.create_publisher(JointTrajectory, "/dit4dit/action_chunk", COMMANDS)
        state = ros.probe.create_publisher(DiagnosticStatus, "/dit4dit/executor/state", SENSOR_DATA)
        info_pub = ros.probe.create_publisher(CameraInfo, "/camera/ego/camera_info", SENSOR_DATA)
        wait_until(lambda: min(p.get_subscription_count() for p in (chunks, state, info_pub)) > 0, 10,
                   what="monitor subscriptions")
        for n in range(4):
            msg = JointTrajectory(joint_names=list(RIGHT_ARM))
            msg.header.stamp = ros.probe.get_clock().now().to_msg()
            msg.points = [JointTrajectoryPoint(positions=[-0.1 * n, 0, 0, 0, 0, 0, 0]) for _ in range(4)]
            chunks.publish(msg)
            wait_until(lambda: len(markers) > n, 10, what=f"markers of chunk {n}")
        arr = markers.snapshot()[-1][1]
        strips = sorted((m for m in arr.markers if m.ns == "dit4dit/hand_paths"), key=lambda m: m.id)
        assert [m.id for m in strips] == [0, 1, 10, 11, 20, 21]  # history 3: the newest three chunks, two palms
        assert strips[0].color.a > strips[2].color.a > strips[4].color.a  # older chunks fade
        assert strips[1].points[0].z > strips[3].points[0].z  # the newest chunk (most raised arm) is id 0/1
        wait_until(lambda: state.publish(executor_state_msg({"mode": "RUNNING"}, OK, "RUNNING")) or any(
            m.ns == "dit4dit/executor_mode" and m.text == "executor RUNNING" for _, a in markers.snapshot()
            for m in a.markers), 10, poll=0.2, what="the executor mode text")
        info = CameraInfo(width=64, height=48, k=[50.0, 0, 32, 0, 50.0, 24, 0, 0, 1])
        info.header.frame_id = "head_camera_optical_frame"
        wait_until(lambda: info_pub.publish(info) or any(m.ns == "dit4dit/camera_frustum" for _, a in markers.snapshot()
                                                         for m in a.markers), 10, poll=0.2, what="the frustum")
        frustum = [m for _, a in markers.snapshot() for m in a.markers if m.ns == "dit4dit/camera_frustum"][-1]
        assert frustum.header.frame_id == "head_camera_optical_frame" and len(frustum.points) == 16
        far = [p for p in frustum.points if p.z > 0]
        assert all(p.z == pytest.approx(0.4) for p in far)  # frustum_depth_m
        assert min(p.x for p in far) == pytest.approx(-32 / 50 * 0.4) and max(p.y for p in far) == pytest.approx(24 / 50 * 0.4)
