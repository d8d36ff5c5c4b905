"""The camera node's ROS parameters beyond capture (see node_params/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.camera.calibration import DEFAULT_HORIZONTAL_FOV_DEG
from dit4dit_ros.data.topics import CAMERA_INFO_TOPIC, IMAGE_TOPIC
from dit4dit_ros.utils.param_fields import param_field

# published encodings and the colour order each one carries
COLOR_OF_ENCODING = {"rgb8": "rgb", "bgr8": "bgr", "mono8": "gray"}


@dataclass(frozen=True)
class CameraPublishParams:
    """The camera node's parameters beyond capture (camera/config.py CaptureConfig): encoding, topics, calibration,
    reconnection, diagnostics.
    """

    encoding: str = param_field("rgb8", "published image encoding", choices=tuple(COLOR_OF_ENCODING))
    frame_id: str = param_field(
        "head_camera_optical_frame",
        "header.frame_id of Image and CameraInfo (the head D435's optical frame in the robot description's TF"
        " tree)",
    )
    image_topic: str = param_field(IMAGE_TOPIC, "sensor_msgs/Image topic")
    camera_info_topic: str = param_field(CAMERA_INFO_TOPIC, "sensor_msgs/CameraInfo topic")
    jpeg_quality: int = param_field(
        80,
        "JPEG quality of <image_topic>/compressed (sensor_msgs/CompressedImage) for remote viewers; 0: not "
        "published",
        minimum=0, maximum=100,
    )
    qos_depth: int = param_field(5, "KEEP_LAST depth of the sensor-data QoS", minimum=1, maximum=100)
    calibration_file: str = param_field("", "camera_calibration YAML (empty = use fx/fy/cx/cy or the field of view)")
    fx: float = param_field(0.0, "focal length x [px] at the published size; 0 = from horizontal_fov_deg", minimum=0.0)
    fy: float = param_field(0.0, "focal length y [px]; 0 = fx", minimum=0.0)
    cx: float = param_field(-1.0, "principal point x [px]; < 0 = image centre")
    cy: float = param_field(-1.0, "principal point y [px]; < 0 = image centre")
    horizontal_fov_deg: float = param_field(
        DEFAULT_HORIZONTAL_FOV_DEG,
        "horizontal field of view used when no focal length is given (RealSense D435 colour: 69)",
        minimum=1.0, maximum=179.0,
    )
    distortion_model: str = param_field("plumb_bob", "CameraInfo distortion model")
    distortion: tuple[float, ...] = param_field(
        (0.0, 0.0, 0.0, 0.0, 0.0),
        "distortion coefficients (D) when no calibration file",
    )
    max_reconnect_attempts: int = param_field(
        10,
        "consecutive open/read failures before giving up",
        minimum=0, maximum=1000,
    )
    reconnect_backoff_s: float = param_field(
        0.5,
        "first retry delay [s], doubled per failure",
        minimum=0.01, maximum=60.0,
    )
    reconnect_backoff_max_s: float = param_field(5.0, "longest retry delay [s]", minimum=0.01, maximum=300.0)
    stale_timeout_s: float = param_field(
        1.0,
        "no frame for this long -> stale diagnostic and a log line",
        minimum=0.05, maximum=60.0,
    )
    diagnostics_period_s: float = param_field(1.0, "period of /diagnostics reports [s]", minimum=0.05, maximum=60.0)
