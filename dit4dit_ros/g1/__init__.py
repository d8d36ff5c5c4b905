"""Unitree G1 facts and low-level protocol (ROS-free)."""
