"""dit4dit_ros: the DiT4DiT video-action policy on the Unitree G1 with ROS 2.

The package root stays import-light: subpackages import torch, rclpy, mujoco or the Unitree SDK only
where they need them, so that the ROS-free core can be used and tested without rclpy.
"""

__version__ = "0.1.0"
