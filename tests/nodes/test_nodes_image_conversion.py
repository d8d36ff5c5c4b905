"""numpy <-> sensor_msgs/Image round trips for every supported encoding, padded steps, byte order, errors."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from dit4dit_ros.nodes.image_conversion import (
    SUPPORTED_ENCODINGS,
    UnsupportedEncodingError,
    camera_info_msg,
    encoding_spec,
    image_to_msg,
    msg_to_image,
    to_rgb8,
)

REQUIRED = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1", "8UC3", "64FC1", "16SC2")


def _random_image(encoding: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    spec = encoding_spec(encoding)
    rng = np.random.default_rng(seed)
    shape = (height, width) if spec.channels == 1 else (height, width, spec.channels)
    if spec.dtype.kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=spec.dtype)


def _padded_msg(array: np.ndarray, encoding: str, pad: int) -> Image:
    """An Image whose rows carry `pad` junk bytes (step not necessarily a multiple of the element size)."""
    h, w = array.shape[:2]
    row = array.reshape(h, -1).view(np.uint8).reshape(h, -1)
    padded = np.full((h, row.shape[1] + pad), 0xAB, dtype=np.uint8)
    padded[:, : row.shape[1]] = row
    msg = Image(height=h, width=w, encoding=encoding, step=row.shape[1] + pad, is_bigendian=0)
    msg.data = padded.tobytes()
    return msg


def test_required_encodings_are_supported():
    for enc in REQUIRED:
        assert enc in SUPPORTED_ENCODINGS


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_round_trip_every_encoding_odd_size(encoding):
    image = _random_image(encoding, height=7, width=5)
    msg = image_to_msg(image, encoding, stamp=Time(sec=3, nanosec=7), frame_id="cam")
    spec = encoding_spec(encoding)
    assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (7, 5, encoding, "cam")
    assert msg.step == 5 * spec.channels * spec.dtype.itemsize
    assert len(msg.data) == 7 * msg.step
    assert msg.header.stamp.sec == 3 and msg.header.stamp.nanosec == 7
    back = msg_to_image(msg)
    assert back.dtype == image.dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize("encoding", REQUIRED)
@pytest.mark.parametrize("pad", [1, 3, 8])
def test_padded_rows_are_skipped(encoding, pad):
    image = _random_image(encoding, height=6, width=9, seed=pad)
    msg = _padded_msg(image, encoding, pad)
    np.testing.assert_array_equal(msg_to_image(msg), image)
    copied = msg_to_image(msg, copy=True)
    assert copied.flags.c_contiguous and copied.flags.owndata
    np.testing.assert_array_equal(copied, image)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1", "64FC1"])
def test_big_endian_data_is_byte_swapped(encoding):
    image = _random_image(encoding, 4, 3)
    msg = _padded_msg(image.astype(image.dtype.newbyteorder(">")), encoding, pad=2)
    msg.is_bigendian = 1
    back = msg_to_image(msg)
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, image)


def test_single_channel_accepts_trailing_axis_and_non_contiguous_input():
    image = _random_image("mono8", 10, 12)
    msg = image_to_msg(image[:, :, None], "mono8")
    np.testing.assert_array_equal(msg_to_image(msg), image)
    strided = _random_image("rgb8", 8, 16)[:, ::2]
    np.testing.assert_array_equal(msg_to_image(image_to_msg(strided, "rgb8")), strided)


def test_to_rgb8_from_colour_orders():
    rgb = _random_image("rgb8", 5, 4)
    assert np.array_equal(to_rgb8(image_to_msg(rgb, "rgb8")), rgb)
    assert np.array_equal(to_rgb8(image_to_msg(rgb[:, :, ::-1].copy(), "bgr8")), rgb)
    rgba = np.concatenate([rgb, np.full((5, 4, 1), 9, np.uint8)], axis=2)
    assert np.array_equal(to_rgb8(image_to_msg(rgba, "rgba8")), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((5, 4, 1), 9, np.uint8)], axis=2)
    assert np.array_equal(to_rgb8(image_to_msg(bgra, "bgra8")), rgb)
    mono = rgb[:, :, 0].copy()
    assert np.array_equal(to_rgb8(image_to_msg(mono, "mono8")), np.stack([mono] * 3, axis=2))
    with pytest.raises(UnsupportedEncodingError, match="32FC1"):
        to_rgb8(image_to_msg(np.zeros((2, 2), np.float32), "32FC1"))


def test_unsupported_encoding_is_a_clear_error():
    with pytest.raises(UnsupportedEncodingError, match="'yuv422'.*supported: rgb8"):
        image_to_msg(np.zeros((2, 2, 2), np.uint8), "yuv422")
    msg = Image(height=2, width=2, encoding="bayer_rggb8", step=2)
    msg.data = bytes(4)
    with pytest.raises(UnsupportedEncodingError, match="bayer_rggb8"):
        msg_to_image(msg)


def test_mismatched_arrays_are_rejected():
    with pytest.raises(ValueError, match="dtype float64 does not match encoding 'rgb8'"):
        image_to_msg(np.zeros((2, 2, 3)), "rgb8")
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\)"):
        image_to_msg(np.zeros((2, 2, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="empty"):
        image_to_msg(np.zeros((0, 2, 3), np.uint8), "rgb8")


def test_inconsistent_messages_are_rejected():
    msg = Image(height=4, width=4, encoding="rgb8", step=11)
    msg.data = bytes(4 * 12)
    with pytest.raises(ValueError, match="step 11 is smaller"):
        msg_to_image(msg)
    msg.step = 12
    msg.data = bytes(40)
    with pytest.raises(ValueError, match="40 bytes, expected at least 48"):
        msg_to_image(msg)


def test_camera_info_defaults_projection_from_k():
    k = [600.0, 0.0, 320.0, 0.0, 610.0, 240.0, 0.0, 0.0, 1.0]
    info = camera_info_msg(640, 480, k, d=[0.1, 0, 0, 0, 0], frame_id="cam")
    assert (info.width, info.height, info.header.frame_id) == (640, 480, "cam")
    assert list(info.p) == [600.0, 0.0, 320.0, 0.0, 0.0, 610.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(info.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    with pytest.raises(ValueError, match="K must have 9"):
        camera_info_msg(640, 480, k[:8])


def test_jpeg_compression_round_trip_and_bad_input():
    from dit4dit_ros.nodes.image_conversion import (compressed_msg_to_image, compressed_topic, image_to_compressed_msg,
                                                    UnsupportedEncodingError)

    assert compressed_topic("/camera/ego/image_raw") == "/camera/ego/image_raw/compressed"
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (220, 20, 20)  # red left half
    msg = image_to_compressed_msg(rgb, "rgb8", 90, frame_id="cam")
    assert msg.format == "rgb8; jpeg compressed bgr8" and msg.header.frame_id == "cam"
    back = compressed_msg_to_image(msg)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb.astype(int)).mean() < 6
    assert back[24, 8, 0] > 180 and back[24, 8, 2] < 60  # red stays red: the channels are not swapped
    small = image_to_compressed_msg(rgb, "bgr8", 10)
    assert len(small.data) < len(msg.data)  # quality is honoured
    with pytest.raises(ValueError, match="JPEG quality must be in 1..100, got 0"):
        image_to_compressed_msg(rgb, "rgb8", 0)
    with pytest.raises(UnsupportedEncodingError, match="rgb8, bgr8 or mono8.*'32FC1'"):
        image_to_compressed_msg(np.zeros((4, 4), np.float32), "32FC1", 80)
    msg.data = b"garbage"
    with pytest.raises(ValueError, match="cannot decode a CompressedImage"):
        compressed_msg_to_image(msg)
