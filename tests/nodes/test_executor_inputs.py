"""ROS messages -> executor inputs: oversized or malformed messages are refused by their sizes, before any
per-point work (a 100,000-point chunk once cost 249 ms of list building in the node before its rejection)."""
from __future__ import annotations

from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dit4dit_ros.nodes.executor_inputs import chunk_from_trajectory, teleop_from_joint_state

NAMES = ["left_elbow_joint", "left_wrist_roll_joint"]


class Untouchable(list):
    """A list whose elements must not be looked at: only len() is allowed."""

    def __iter__(self):
        raise AssertionError("per-point work on an oversized message")

    def __getitem__(self, index):
        raise AssertionError("per-point work on an oversized message")


class Msg:
    def __init__(self, points, names=NAMES) -> None:
        self.points, self.joint_names = points, names
        self.header = JointTrajectory().header
        self.header.stamp = Time(sec=5)


def test_an_oversized_chunk_is_refused_by_its_length_alone():
    points = Untouchable([None] * 100_001)
    chunk, reason = chunk_from_trajectory(Msg(points), lambda s: 5.0, 1000, 0.03)
    assert chunk is None and reason == "chunk has 100001 points; at most 1000 are accepted"


def test_malformed_chunks_are_refused_with_what_was_expected():
    pt = JointTrajectoryPoint(positions=[0.1, 0.2], time_from_start=Duration(nanosec=10_000_000))
    assert chunk_from_trajectory(Msg([]), lambda s: 5.0, 1000, 0.03)[1] == "chunk has no points"
    assert "unknown joint(s) ['nope', 'x']; expected G1 joint names" in chunk_from_trajectory(Msg([pt], ["nope", "x"]), lambda s: 5.0, 1000, 0.03)[1]
    short = JointTrajectoryPoint(positions=[0.1])
    assert "point 1 has 1 positions; expected 2" in chunk_from_trajectory(Msg([pt, short]), lambda s: 5.0, 1000, 0.03)[1]
    zero = Msg([pt])
    zero.header.stamp = Time()
    assert "stamp is zero" in chunk_from_trajectory(zero, lambda s: 5.0, 1000, 0.03)[1]
    unspaced = JointTrajectoryPoint(positions=[0.1, 0.2])  # time_from_start 0: spaced by the default period
    chunk, reason = chunk_from_trajectory(Msg([unspaced, unspaced]), lambda s: 4.5, 1000, 0.03)
    assert reason == "" and chunk.stamp == 4.5 and chunk.positions.shape == (2, 2) and chunk.times.tolist() == [0.0, 0.03]


def test_teleop_sizes_are_checked_first():
    target, reason = teleop_from_joint_state(JointState(name=["a"] * 32, position=[0.0] * 32))
    assert target is None and "the G1 has 29" in reason
    target, reason = teleop_from_joint_state(JointState(name=NAMES, position=[0.1]))
    assert target is None and reason == "JointState has 2 names but 1 positions"
    (names, pos), reason = teleop_from_joint_state(JointState(name=NAMES, position=[0.1, 0.2]))
    assert reason == "" and names == NAMES and pos.tolist() == [0.1, 0.2]
