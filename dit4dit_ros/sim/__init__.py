"""MuJoCo G1 on a stand at a table, speaking the robot's DDS protocol (ROS-free core).

MuJoCo chooses its OpenGL backend when it is first imported; on a machine without a display only EGL works
(docs/platform.md: osmesa fails), so the default is set here, before any module of this package imports mujoco.
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
