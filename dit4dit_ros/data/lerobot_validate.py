"""Check a directory against the LeRobot dataset format, v2.1 or v3.0 (and GR00T's modality.json if present).

What is checked (each failure is one `Issue` naming the file and what was expected):
- meta/info.json: required keys and types, codebase_version "v2.1" or "v3.0", fps > 0, every feature has
  dtype/shape/names, the five index features, video features with their `info` block, splits "start:end",
  path templates that format with the version's fields.
- the version's metadata, data and video files: lerobot_validate_v21.py, lerobot_validate_v30.py.
- videos: every frame is decoded and the decoder's errors are reported (a corrupted packet makes FFmpeg
  raise or log an error while it conceals the damage); `quick=True` only probes headers and counts packets,
  and the result says so.
- meta/modality.json: state/action slices inside the vectors and non-overlapping, video original_key exists.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_validate_checks import Collector, Issue
from dit4dit_ros.data.lerobot_validate_v21 import check_v21
from dit4dit_ros.data.lerobot_validate_v30 import check_v30

_NUMERIC = {"float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"}
_COMMON_INFO_KEYS: dict[str, type | tuple[type, ...]] = {
    k: v for k, v in fmt.REQUIRED_INFO_KEYS.items() if k not in ("total_videos", "total_chunks")}
_TEMPLATE_FIELDS = {
    fmt.V21: {"data_path": ("episode_chunk", "episode_index"),
              "video_path": ("episode_chunk", "episode_index", "video_key")},
    fmt.V30: {"data_path": ("chunk_index", "file_index"), "video_path": ("chunk_index", "file_index", "video_key")},
}

__all__ = ["Issue", "ValidationReport", "validate_dataset", "validate"]


@dataclass
class ValidationReport:
    """The problems found, the format version read, and what was not checked (e.g. videos not decoded)."""

    issues: list[Issue]
    version: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def validate(root: Path | str, check_videos: bool = True, quick: bool = False) -> ValidationReport:
    """Check the dataset at `root`; `quick` probes the videos without decoding their frames."""
    root = Path(root)
    c = Collector(root)
    if not root.is_dir():
        c.add(str(root), "not a directory")
        return ValidationReport(c.issues)
    info = _check_info(c, root)
    if info is None:
        return ValidationReport(c.issues)
    _check_modality(c, root, info)
    if info["codebase_version"] == fmt.V30:
        check_v30(c, root, info, check_videos, quick)
    else:
        check_v21(c, root, info, check_videos, quick)
    if not check_videos:
        c.notes.append("videos not checked")
    elif quick:
        c.notes.append("videos not decoded (quick): headers, sizes and packet counts only")
    return ValidationReport(c.issues, info["codebase_version"], c.notes)


def validate_dataset(root: Path | str, check_videos: bool = True, quick: bool = False) -> list[Issue]:
    """All problems found in the dataset at `root` (empty list = valid); see `validate`."""
    return validate(root, check_videos, quick).issues


# ---- info.json ----------------------------------------------------------------------------------------
def _check_info(c: Collector, root: Path) -> dict | None:
    path = root / fmt.INFO_PATH
    if not path.is_file():
        c.add(fmt.INFO_PATH, "missing (every LeRobot dataset has meta/info.json)")
        return None
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        c.add(path, f"not valid JSON: {exc}")
        return None
    if not isinstance(info, dict):
        c.add(path, "must be a JSON object")
        return None
    ok = True
    for key, types in _COMMON_INFO_KEYS.items():
        if key not in info:
            c.add(path, f"missing key {key!r}")
            ok = False
        elif not isinstance(info[key], types) or isinstance(info[key], bool):
            c.add(path, f"key {key!r} has type {type(info[key]).__name__}, expected {_type_names(types)}")
            ok = False
    if not ok:
        return None
    if info["codebase_version"] not in fmt.FORMATS:
        c.add(path, f"codebase_version is {info['codebase_version']!r}, expected one of {list(fmt.FORMATS)}")
        return None
    if info["fps"] <= 0:
        c.add(path, f"fps must be > 0, got {info['fps']}")
        return None
    if info["chunks_size"] <= 0:
        c.add(path, f"chunks_size must be > 0, got {info['chunks_size']}")
        return None
    for template, fields in _TEMPLATE_FIELDS[info["codebase_version"]].items():
        value = info[template]
        if value is None:
            continue
        names = {f[1] for f in string.Formatter().parse(value) if f[1]}
        if names != set(fields):
            c.add(path, f"{template} {value!r} must use exactly the fields {sorted(fields)}, uses {sorted(names)}")
            return None
    features = info["features"]
    for key, ft in features.items():
        where = f"{fmt.INFO_PATH} features[{key!r}]"
        if not isinstance(ft, dict) or not {"dtype", "shape", "names"} <= set(ft):
            c.add(where, "must be an object with 'dtype', 'shape' and 'names'")
            ok = False
            continue
        shape = ft["shape"]
        if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
            c.add(where, f"shape must be a non-empty list of positive integers, got {shape!r}")
            ok = False
        names = ft["names"]
        if names is not None and not isinstance(names, (list, dict)):
            c.add(where, f"names must be null, a list or an object, got {type(names).__name__}")
        if isinstance(names, list) and isinstance(shape, list) and len(shape) == 1 and len(names) != shape[0]:
            c.add(where, f"names has {len(names)} entries, shape says {shape[0]}")
        dtype = ft["dtype"]
        if dtype == "video":
            _check_video_feature(c, where, ft, info)
        elif dtype not in _NUMERIC | {"string", "image"}:
            c.add(where, f"unknown dtype {dtype!r}")
    for key, spec in fmt.DEFAULT_FEATURES.items():
        ft = features.get(key)
        if ft is None:
            c.add(path, f"features lacks the index feature {key!r}")
            ok = False
        elif isinstance(ft, dict) and (ft.get("dtype") != spec["dtype"] or ft.get("shape") != spec["shape"]):
            c.add(path, f"features[{key!r}] must be dtype {spec['dtype']} shape {spec['shape']}, got "
                        f"{ft.get('dtype')} {ft.get('shape')}")
    if fmt.video_features(info) and not info["video_path"]:
        c.add(path, "has video features but video_path is null")
        ok = False
    splits = info["splits"]
    for name, value in splits.items():
        parts = str(value).split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > int(parts[1]):
            c.add(path, f"splits[{name!r}] = {value!r}, expected 'start:end' episode indices")
        elif int(parts[1]) > info["total_episodes"]:
            c.add(path, f"splits[{name!r}] = {value!r} goes past total_episodes {info['total_episodes']}")
    return info if ok else None


def _check_video_feature(c: Collector, where: str, ft: dict, info: dict) -> None:
    shape = ft["shape"]
    names = ft.get("names")
    if not (isinstance(shape, list) and len(shape) == 3):
        c.add(where, f"a video feature needs a 3-D shape, got {shape!r}")
        return
    if names not in (["height", "width", "channels"], ["height", "width", "channel"], ["channels", "height", "width"]):
        c.add(where, f"video names must be ['height', 'width', 'channels'], got {names!r}")
    vinfo = ft.get("info")
    if not isinstance(vinfo, dict):
        c.add(where, "a video feature needs an 'info' object (video.fps, video.codec, ...)")
        return
    missing = [k for k in fmt.VIDEO_INFO_KEYS if k not in vinfo]
    if missing:
        c.add(where, f"info lacks {missing}")
        return
    hw = (shape[0], shape[1]) if names != ["channels", "height", "width"] else (shape[1], shape[2])
    if (vinfo["video.height"], vinfo["video.width"]) != hw:
        c.add(where, f"info video.height/width {vinfo['video.height']}x{vinfo['video.width']} differ from shape {shape}")
    if float(vinfo["video.fps"]) != float(info["fps"]):
        c.add(where, f"info video.fps {vinfo['video.fps']} differs from the dataset fps {info['fps']}")


def _type_names(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


# ---- modality.json --------------------------------------------------------------------------------------
def _check_modality(c: Collector, root: Path, info: dict) -> None:
    path = root / fmt.MODALITY_PATH
    if not path.is_file():
        return  # optional in plain LeRobot; required only by GR00T-style loaders
    try:
        modality = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        c.add(path, f"not valid JSON: {exc}")
        return
    features = info["features"]
    for part, feature in (("state", fmt.STATE_KEY), ("action", fmt.ACTION_KEY)):
        groups = modality.get(part)
        if groups is None:
            continue
        if feature not in features:
            c.add(path, f"{part!r} groups given but info.json has no {feature!r} feature")
            continue
        width = features[feature]["shape"][0]
        spans = []
        for name, entry in groups.items():
            start, end = (entry or {}).get("start"), (entry or {}).get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= width):
                c.add(path, f"{part}.{name}: start/end {start}/{end} must satisfy 0 <= start < end <= {width}")
                continue
            spans.append((start, end, name))
        spans.sort()
        for (s0, e0, n0), (s1, e1, n1) in zip(spans, spans[1:]):
            if s1 < e0:
                c.add(path, f"{part}.{n0} [{s0},{e0}) overlaps {part}.{n1} [{s1},{e1})")
    for name, entry in (modality.get("video") or {}).items():
        key = (entry or {}).get("original_key", fmt.video_feature_key(name))
        if key not in features or features[key].get("dtype") != "video":
            c.add(path, f"video.{name}: original_key {key!r} is not a video feature of info.json")
    for name, entry in (modality.get("annotation") or {}).items():
        key = (entry or {}).get("original_key", f"annotation.{name}")
        if key not in features:
            c.add(path, f"annotation.{name}: column {key!r} is not a feature of info.json")


