"""ROS-free monitoring helpers: forward kinematics of predicted chunks, chunk timing statistics."""
