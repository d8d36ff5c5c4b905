"""Small ROS-free helpers shared by several areas."""
