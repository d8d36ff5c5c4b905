"""numpy <-> sensor_msgs/Image (and CameraInfo) without cv_bridge.

cv_bridge is not installable here (the PyPI `cv-bridge` is the ROS 1 package and breaks with numpy 2), so
the conversion is written against the message definition: `data` holds `height` rows of `step` bytes each,
a row holds `width` pixels of `channels` elements of the encoding's dtype, and `is_bigendian` gives the byte
order of multi-byte elements. Rows may be padded (step > width * pixel bytes), which is why reading back
uses the step rather than assuming a packed buffer.

Speed (docs/platform.md): `msg.data = arr.tobytes()` costs ~0.07 ms at 640x480 rgb8; assigning the ndarray itself
goes through the message setter element by element (~44 ms). Always assign bytes.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image


@dataclass(frozen=True)
class EncodingSpec:
    """Element type and channel count of one sensor_msgs/Image encoding."""

    name: str
    dtype: np.dtype
    channels: int


def _build_encodings() -> Mapping[str, EncodingSpec]:
    table: dict[str, EncodingSpec] = {}

    def add(name: str, dtype: str, channels: int) -> None:
        table[name] = EncodingSpec(name, np.dtype(dtype), channels)

    # Named encodings (sensor_msgs/image_encodings.hpp).
    for name, dtype, ch in (
        ("rgb8", "u1", 3), ("bgr8", "u1", 3), ("rgba8", "u1", 4), ("bgra8", "u1", 4),
        ("mono8", "u1", 1), ("mono16", "u2", 1),
        ("rgb16", "u2", 3), ("bgr16", "u2", 3), ("rgba16", "u2", 4), ("bgra16", "u2", 4),
    ):
        add(name, dtype, ch)
    # Generic OpenCV-style encodings: {8U,8S,16U,16S,32S,32F,64F}C{1..4}.
    for prefix, dtype in (("8U", "u1"), ("8S", "i1"), ("16U", "u2"), ("16S", "i2"),
                          ("32S", "i4"), ("32F", "f4"), ("64F", "f8")):
        for ch in (1, 2, 3, 4):
            add(f"{prefix}C{ch}", dtype, ch)
    return MappingProxyType(table)


ENCODINGS: Mapping[str, EncodingSpec] = _build_encodings()
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)
_HOST_BIG_ENDIAN = sys.byteorder == "big"


class UnsupportedEncodingError(ValueError):
    """An Image encoding this module cannot convert (e.g. compressed or Bayer/YUV formats)."""


def encoding_spec(encoding: str) -> EncodingSpec:
    """The EncodingSpec of `encoding`; an unknown one raises UnsupportedEncodingError listing the known ones."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise UnsupportedEncodingError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        ) from None


def _validate_array(array: np.ndarray, spec: EncodingSpec) -> tuple[int, int]:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.newbyteorder("=") != spec.dtype.newbyteorder("="):
        raise ValueError(
            f"image dtype {array.dtype} does not match encoding {spec.name!r} (expects {spec.dtype}); "
            f"convert explicitly, e.g. array.astype(np.{spec.dtype.name})"
        )
    if spec.channels == 1 and array.ndim == 2:
        return array.shape[0], array.shape[1]
    if array.ndim == 3 and array.shape[2] == spec.channels:
        return array.shape[0], array.shape[1]
    expected = "(H, W) or (H, W, 1)" if spec.channels == 1 else f"(H, W, {spec.channels})"
    raise ValueError(f"image shape {array.shape} does not match encoding {spec.name!r}: expected {expected}")


def image_to_msg(
    array: np.ndarray,
    encoding: str,
    stamp: Time | None = None,
    frame_id: str = "",
    msg: Image | None = None,
) -> Image:
    """An Image message holding `array` (packed rows, host byte order).

    `array` must already have the encoding's dtype and channel count: nothing is converted implicitly
    (a float image published as rgb8 is a bug to report, not to guess around). `stamp` should be the
    capture time. Pass `msg` to refill an existing message instead of allocating one.
    """
    spec = encoding_spec(encoding)
    height, width = _validate_array(array, spec)
    if height == 0 or width == 0:
        raise ValueError(f"image must not be empty, got shape {array.shape}")
    out = msg if msg is not None else Image()
    if stamp is not None:
        out.header.stamp = stamp
    out.header.frame_id = frame_id
    out.height = height
    out.width = width
    out.encoding = encoding
    is_big = array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and _HOST_BIG_ENDIAN)
    out.is_bigendian = int(is_big and spec.dtype.itemsize > 1)
    out.step = width * spec.channels * spec.dtype.itemsize
    out.data = np.ascontiguousarray(array).tobytes()  # bytes: the fast path of the message setter
    return out


def msg_to_image(msg: Image, copy: bool = False) -> np.ndarray:
    """The pixels of `msg` as an array of shape (H, W) for one channel, (H, W, C) otherwise.

    Honors `step` (padded rows, including steps that are not a multiple of the element size) and
    `is_bigendian` (the result is in host byte order). With copy=False the result views the message's
    buffer when possible (zero copy; it stays valid as long as the array lives); copy=True always returns a
    new C-contiguous array.
    """
    spec = encoding_spec(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * spec.channels * spec.dtype.itemsize
    if height == 0 or width == 0:
        raise ValueError(f"Image has zero size ({width}x{height}, encoding {msg.encoding!r})")
    if step < row_bytes:
        raise ValueError(
            f"Image step {step} is smaller than width*channels*itemsize = {width}*{spec.channels}*"
            f"{spec.dtype.itemsize} = {row_bytes} (encoding {msg.encoding!r})"
        )
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    needed = (height - 1) * step + row_bytes
    if buffer.size < needed:
        raise ValueError(
            f"Image data has {buffer.size} bytes, expected at least {needed} for {height} rows of step {step} "
            f"({width}x{height} {msg.encoding})"
        )
    dtype = spec.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    itemsize = spec.dtype.itemsize
    shape: tuple[int, ...] = (height, width, spec.channels)
    strides: tuple[int, ...] = (step, spec.channels * itemsize, itemsize)
    view = np.ndarray(shape=shape, dtype=dtype, buffer=buffer, offset=0, strides=strides)
    if spec.channels == 1:
        view = view[:, :, 0]
    native = dtype.newbyteorder("=")
    if dtype.isnative or itemsize == 1:
        return np.array(view, dtype=native, order="C", copy=True) if copy else view
    return view.astype(native)  # byte swap: always a new array


def to_rgb8(msg: Image) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of an 8-bit colour or mono image (what the policy consumes).

    Channel reordering uses OpenCV (~0.06 ms at 640x480; a numpy reversed-stride copy costs ~5 ms).
    """
    import cv2

    image = msg_to_image(msg)
    codes = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
             "mono8": cv2.COLOR_GRAY2RGB}
    if msg.encoding == "rgb8":
        return np.array(image, order="C", copy=True)
    code = codes.get(msg.encoding)
    if code is None:
        raise UnsupportedEncodingError(
            f"cannot convert encoding {msg.encoding!r} to rgb8; expected one of rgb8, {', '.join(codes)}"
        )
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def camera_info_msg(
    width: int,
    height: int,
    k: Sequence[float],
    d: Sequence[float] = (),
    distortion_model: str = "plumb_bob",
    r: Sequence[float] | None = None,
    p: Sequence[float] | None = None,
    stamp: Time | None = None,
    frame_id: str = "",
) -> CameraInfo:
    """A CameraInfo from intrinsics: K (3x3 row-major), D, R (identity by default), P (from K by default)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"camera_info width/height must be positive, got {width}x{height}")
    k = [float(v) for v in k]
    if len(k) != 9:
        raise ValueError(f"camera_info K must have 9 values (3x3 row-major), got {len(k)}")
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0] if r is None else [float(v) for v in r]
    if len(r) != 9:
        raise ValueError(f"camera_info R must have 9 values (3x3 row-major), got {len(r)}")
    if p is None:
        p = [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0]
    p = [float(v) for v in p]
    if len(p) != 12:
        raise ValueError(f"camera_info P must have 12 values (3x4 row-major), got {len(p)}")
    info = CameraInfo()
    if stamp is not None:
        info.header.stamp = stamp
    info.header.frame_id = frame_id
    info.width = int(width)
    info.height = int(height)
    info.distortion_model = distortion_model
    info.d = [float(v) for v in d]
    info.k = k
    info.r = r
    info.p = p
    return info


def compressed_topic(image_topic: str) -> str:
    """The image_transport name of an image topic's JPEG stream: <image_topic>/compressed."""
    return image_topic.rstrip("/") + "/compressed"


def image_to_compressed_msg(image: np.ndarray, encoding: str, quality: int, stamp: Time | None = None,
                            frame_id: str = ""):
    """A sensor_msgs/CompressedImage (JPEG) of an rgb8/bgr8/mono8 image, for remote viewers (RViz, Foxglove, web).

    `format` follows image_transport's compressed plugin ("rgb8; jpeg compressed bgr8"), so its decoders restore
    the original encoding. Encoding a 224x224 frame costs well under a millisecond; 640x480 a few.
    """
    import cv2
    from sensor_msgs.msg import CompressedImage

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if encoding == "rgb8":
        pixels = image[..., ::-1]
    elif encoding in ("bgr8", "mono8"):
        pixels = image
    else:
        raise UnsupportedEncodingError(f"JPEG compression takes rgb8, bgr8 or mono8 images, got {encoding!r}")
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding of a {image.shape} {encoding} image failed")
    msg = CompressedImage()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = f"{encoding}; jpeg compressed {'mono8' if encoding == 'mono8' else 'bgr8'}"
    msg.data = buffer.tobytes()
    return msg


def compressed_msg_to_image(msg) -> np.ndarray:
    """RGB (H, W, 3) uint8 (or mono (H, W)) of a JPEG CompressedImage written by image_to_compressed_msg."""
    import cv2

    decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError(f"cannot decode a CompressedImage of format {msg.format!r} ({len(msg.data)} bytes)")
    return decoded if decoded.ndim == 2 else decoded[..., ::-1].copy()
