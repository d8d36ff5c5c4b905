"""ROS-free safety tooling: what reached the robot (the Unitree DDS wire), the trials of `dit4dit bench safety`,
malformed-input generators for fuzzing the graph's subscribers."""
