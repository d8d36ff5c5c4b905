"""ROS-free policy-side logic: observation assembly and staleness checks, inference scheduling."""
