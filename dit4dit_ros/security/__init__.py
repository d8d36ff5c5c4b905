"""SROS2 (DDS Security) for the graph: enclaves, access-control policy, keystore generation (ROS-free)."""
