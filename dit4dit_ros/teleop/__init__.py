"""Teleoperation sources: joint position targets for the executor's teleop input (ROS-free core).

Every source produces `TeleopTarget`s (G1 joint names + positions); nodes/teleop_node.py publishes them on
/dit4dit/teleop/joint_command, so that teleoperation and the policy reach the robot through one path: the
executor's validation and safety filter. Sources: keyboard end-effector jogging with IK (jog.py, keys.py,
terminal.py), replay of a recorded episode (replay.py), the simulator's scripted expert (expert.py).
"""
from dit4dit_ros.teleop.target import TeleopTarget

__all__ = ["TeleopTarget"]
