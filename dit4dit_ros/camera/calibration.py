"""Camera intrinsics: loaded from a calibration YAML, given as numbers, or derived from a field of view.

The YAML format is the one ROS camera_calibration writes and camera_info_manager reads
(image_width, image_height, camera_name, camera_matrix, distortion_model, distortion_coefficients,
rectification_matrix, projection_matrix; matrices as {rows, cols, data}). When the published size differs
from the calibrated size, the intrinsics are scaled (valid for a pure resize of the full frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import yaml

# Intel RealSense D435/D435i colour camera (the G1's head camera): 69 x 42 degrees.
DEFAULT_HORIZONTAL_FOV_DEG = 69.0
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class CameraCalibration:
    """Pinhole intrinsics for one image size (K, D, R, P row-major like sensor_msgs/CameraInfo)."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    distortion_model: str = "plumb_bob"
    r: tuple[float, ...] = _IDENTITY
    p: tuple[float, ...] | None = None
    camera_name: str = ""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"calibration image size must be positive, got {self.width}x{self.height}")
        for name, values, n in (("camera_matrix (K)", self.k, 9), ("rectification_matrix (R)", self.r, 9)):
            if len(values) != n:
                raise ValueError(f"calibration {name} must have {n} values, got {len(values)}")
        object.__setattr__(self, "k", tuple(float(v) for v in self.k))
        object.__setattr__(self, "d", tuple(float(v) for v in self.d))
        object.__setattr__(self, "r", tuple(float(v) for v in self.r))
        if self.p is None:
            k = self.k
            object.__setattr__(self, "p", (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0))
        elif len(self.p) != 12:
            raise ValueError(f"calibration projection_matrix (P) must have 12 values, got {len(self.p)}")
        else:
            object.__setattr__(self, "p", tuple(float(v) for v in self.p))
        if self.k[0] <= 0 or self.k[4] <= 0:
            raise ValueError(f"calibration focal lengths must be positive, got fx={self.k[0]} fy={self.k[4]}")

    @classmethod
    def from_intrinsics(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                        d: Sequence[float] = (0.0,) * 5, distortion_model: str = "plumb_bob") -> "CameraCalibration":
        return cls(width, height, (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0), tuple(d), distortion_model)

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float = DEFAULT_HORIZONTAL_FOV_DEG) -> "CameraCalibration":
        """An ideal pinhole (square pixels, centred, no distortion) with the given horizontal field of view."""
        if not 1.0 <= horizontal_fov_deg <= 179.0:
            raise ValueError(f"horizontal_fov_deg must be in [1, 179], got {horizontal_fov_deg}")
        f = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
        return cls.from_intrinsics(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def scaled(self, width: int, height: int) -> "CameraCalibration":
        """The same camera at another image size (a pure resize: focal lengths and centre scale)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        k = list(self.k)
        k[0] *= sx; k[2] *= sx; k[4] *= sy; k[5] *= sy  # noqa: E702
        p = list(self.p)
        p[0] *= sx; p[2] *= sx; p[3] *= sx; p[5] *= sy; p[6] *= sy  # noqa: E702
        return replace(self, width=width, height=height, k=tuple(k), p=tuple(p))


def _matrix(data: dict[str, Any], key: str, rows: int, cols: int, source: str, required: bool = True):
    block = data.get(key)
    if block is None:
        if required:
            raise ValueError(f"calibration file {source}: missing {key!r}")
        return None
    if not isinstance(block, dict) or "data" not in block:
        raise ValueError(f"calibration file {source}: {key!r} must be a map with rows, cols, data")
    values = block["data"]
    expected_rows, expected_cols = block.get("rows", rows), block.get("cols", cols)
    if key == "distortion_coefficients":
        return tuple(float(v) for v in values)
    if (expected_rows, expected_cols) != (rows, cols) or len(values) != rows * cols:
        raise ValueError(
            f"calibration file {source}: {key!r} must be {rows}x{cols} ({rows * cols} values), "
            f"got rows={expected_rows} cols={expected_cols} with {len(values)} values"
        )
    return tuple(float(v) for v in values)


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read a ROS camera_calibration YAML; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera calibration file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"calibration file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"calibration file {path}: expected a map (camera_calibration format)")
    for key in ("image_width", "image_height"):
        if not isinstance(data.get(key), int):
            raise ValueError(f"calibration file {path}: {key!r} must be an integer")
    d = _matrix(data, "distortion_coefficients", 1, 5, str(path), required=False)
    return CameraCalibration(
        width=data["image_width"],
        height=data["image_height"],
        k=_matrix(data, "camera_matrix", 3, 3, str(path)),
        d=d if d is not None else (0.0,) * 5,
        distortion_model=str(data.get("distortion_model", "plumb_bob")),
        r=_matrix(data, "rectification_matrix", 3, 3, str(path), required=False) or _IDENTITY,
        p=_matrix(data, "projection_matrix", 3, 4, str(path), required=False),
        camera_name=str(data.get("camera_name", "")),
    )
