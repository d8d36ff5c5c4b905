"""Thin rclpy nodes: each one is glue between ROS topics and one ROS-free object.

Importing this package does not import rclpy; the node modules do.
"""
