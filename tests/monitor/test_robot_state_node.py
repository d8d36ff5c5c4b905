"""robot_state node: /robot_description, /tf_static and /tf from /joint_states (and the commanded ghost), checked
against MuJoCo's poses of the same model; the monitor's extra markers (history, executor mode, camera frustum)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from tf2_msgs.msg import TFMessage

from dit4dit_ros.g1.description import quat_to_matrix
from dit4dit_ros.nodes.qos import LATCHED, SENSOR_DATA
from dit4dit_ros.nodes.tf_publishing import TF_QOS, TF_STATIC_QOS
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.ros, pytest.mark.sim]


def _matrix(t) -> np.ndarray:
    tr, q = t.transform.translation, t.transform.rotation
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = quat_to_matrix((q.w, q.x, q.y, q.z)), (tr.x, tr.y, tr.z)
    return m


def test_robot_state_publishes_description_and_tf_matching_mujoco(tmp_path):
    import mujoco

    from dit4dit_ros.g1.model import build_robot_model
    from dit4dit_ros.nodes.robot_state_node import RobotStateNode
    from dit4dit_ros.nodes.probe import RosHarness

    with RosHarness() as ros:
        description = ros.collect(String, "/robot_description", LATCHED)
        static = ros.collect(TFMessage, "/tf_static", TF_STATIC_QOS)
        tf = ros.collect(TFMessage, "/tf", TF_QOS)
        ros.make_node(RobotStateNode, parameter_overrides=[Parameter("description_dir", value=str(tmp_path)),
                                                           Parameter("publish_rate_hz", value=0.0)])
        wait_until(lambda: len(description) and len(static), 20, what="/robot_description and /tf_static (latched)")
        urdf = description.snapshot()[-1][1].data
        links = {link.get("name") for link in ET.fromstring(urdf).findall("link")}
        assert {"pelvis", "right_wrist_yaw_link", "head_camera", "head_camera_optical_frame"} <= links
        statics = {t.child_frame_id: t for t in static.snapshot()[-1][1].transforms}
        assert statics["head_camera_optical_frame"].header.frame_id == "head_camera"
        assert statics["commanded/pelvis"].header.frame_id == "pelvis"  # the ghost's root sits on the robot

        pub = ros.probe.create_publisher(JointState, "/joint_states", SENSOR_DATA)
        cmd = ros.probe.create_publisher(JointState, "/dit4dit/executor/command", SENSOR_DATA)
        wait_until(lambda: pub.get_subscription_count() > 0 and cmd.get_subscription_count() > 0, 10,
                   what="robot_state subscriptions")
        model = build_robot_model()
        names = [model.joint(j).name for j in range(model.njnt)]
        rng = np.random.default_rng(3)
        q = rng.uniform(-0.4, 0.4, len(names))
        msg = JointState(name=names, position=q.tolist())
        msg.header.stamp.sec, msg.header.stamp.nanosec = 42, 500_000_000
        wait_until(lambda: pub.publish(msg) or any(m.transforms and m.transforms[0].header.stamp.sec == 42
                                                   and not m.transforms[0].child_frame_id.startswith("commanded/")
                                                   for _, m in tf.snapshot()), 10, poll=0.2, what="/tf for the joints")
        measured = [m for _, m in tf.snapshot() if m.transforms[0].header.stamp.sec == 42][-1]
        assert all(t.header.stamp.sec == 42 and t.header.stamp.nanosec == 500_000_000 for t in measured.transforms)
        frames = {t.child_frame_id: t for t in measured.transforms}
        frames.update(statics)

        def chain(frame: str) -> np.ndarray:
            t = frames.get(frame)
            return np.eye(4) if t is None or frame == "commanded/pelvis" else chain(t.header.frame_id) @ _matrix(t)

        data = mujoco.MjData(model)
        data.qpos[[model.jnt_qposadr[j] for j in range(model.njnt)]] = q
        mujoco.mj_forward(model, data)
        r0, p0 = data.xmat[1].reshape(3, 3), data.xpos[1]
        for b in range(2, model.nbody):
            name = model.body(b).name
            assert frames[name].header.frame_id == model.body(model.body_parentid[b]).name
            np.testing.assert_allclose(chain(name)[:3, 3], r0.T @ (data.xpos[b] - p0), atol=1e-6, err_msg=name)
        cam = model.camera("head_camera").id
        np.testing.assert_allclose(chain("head_camera_optical_frame")[:3, 3], r0.T @ (data.cam_xpos[cam] - p0), atol=1e-6)

        # a joint state whose names and positions disagree is dropped (the next good one still goes out)
        bad = JointState(name=["right_elbow_joint", "left_elbow_joint"], position=[0.1])
        bad.header.stamp.sec = 99
        good = JointState(name=["right_elbow_joint"], position=[0.2])
        good.header.stamp.sec = 100
        pub.publish(bad)
        wait_until(lambda: pub.publish(good) or any(m.transforms[0].header.stamp.sec == 100 for _, m in tf.snapshot()),
                   10, poll=0.2, what="/tf after a bad joint state")
        assert not any(m.transforms[0].header.stamp.sec == 99 for _, m in tf.snapshot())

        # the commanded ghost: the command's joints, the measured value for the others
        command = JointState(name=["right_elbow_joint"], position=[1.0])
        command.header.stamp.sec = 43
        wait_until(lambda: cmd.publish(command) or any(m.transforms[0].child_frame_id.startswith("commanded/")
                                                       for _, m in tf.snapshot()), 10, poll=0.2, what="ghost /tf")
        ghost = [m for _, m in tf.snapshot() if m.transforms[0].child_frame_id.startswith("commanded/")][-1]
        g = {t.child_frame_id: t for t in ghost.transforms}
        assert g["commanded/right_elbow_link"].header.frame_id == "commanded/right_shoulder_yaw_link"
        assert g["commanded/left_elbow_link"].transform.rotation == frames["left_elbow_link"].transform.rotation
        assert g["commanded/right_elbow_link"].transform.rotation != frames["right_elbow_link"].transform.rotation
