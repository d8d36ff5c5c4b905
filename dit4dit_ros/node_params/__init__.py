"""Each node's own ROS parameters (topics, QoS, rates, diagnostics) as ROS-free dataclasses, one module per node.

The settings of a core (ExecutorConfig, CaptureConfig, RecorderConfig, JogConfig, ObservationConfig, the
simulator's configs) stay on that core's config dataclass; a node declares `param_specs()` of both, so every
parameter is written once, and the deployment-file checker reads the same declarations without rclpy.
"""
