"""Episode recording (rosbag2 MCAP), LeRobot v2.1 export/validation and the training reader.

Everything here is ROS-free (rclpy is not imported): the recorder node in `dit4dit_ros/nodes/recorder_node.py`
feeds raw CDR bytes into `EpisodeRecorder`, and the exporter/reader work on files only.
"""
