"""Which columns of a LeRobot dataset's state/action vectors are which G1 channels.

A dataset written by `dit4dit export-lerobot` names every column with a G1 channel name in info.json, and
its meta/modality.json names the body-part groups. Datasets written by other tools (LeRobot's recorder,
Unitree's XR teleoperation converters, GR00T) may name columns `kLeftShoulderPitch`, `motor_3`, or not at
all. `ColumnSelection` says explicitly what the columns are, from command-line flags or a layout file:

    # layout.yaml (dit4dit train --layout layout.yaml)
    state_key: observation.state        # optional, default observation.state
    action_key: action                  # optional, default action
    video_key: observation.images.ego   # optional, default: the only camera (or modality.json's ego_view)
    state: {left_arm: 0:7, right_arm: 7:14, left_gripper: 14, right_gripper: 15}   # [start:end) or one column
    action: {left_arm: 0:7, right_arm: 7:14, left_gripper: 14, right_gripper: 15}

Group names are those of g1/channels.py (the official DiT4DiT G1 keys left_arm, right_arm, left_gripper,
right_gripper, or left_hand/right_hand, waist, legs); a group's span must have as many columns as it has
channels. `resolve_dataset_channels` turns a selection into channel names and column indices, in this order:
explicit columns; explicit modality.json groups; info.json names that are all G1 channels; all of
modality.json's groups when they are G1 groups; else an error that says which flag to use (docs/data.md
"Training on datasets written by other tools").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.g1.channels import BODY_GROUPS, CHANNEL_NAMES, channels_of_groups, check_groups

_PARTS = ("state", "action")


def parse_span(text: str | int | Sequence[int]) -> tuple[int, int]:
    """'0:7' -> (0, 7); '14' or 14 -> (14, 15); [0, 7] -> (0, 7). ValueError names the bad text."""
    bad = ValueError(f"column span {text!r}: expected 'start:end' (end exclusive) or one column index like '14'")
    if isinstance(text, bool):
        raise bad
    if isinstance(text, int):
        numbers = [text]
    elif isinstance(text, (list, tuple)):
        try:
            numbers = [n if isinstance(n, int) and not isinstance(n, bool) else int(str(n)) for n in text]
        except ValueError:
            raise bad from None
    else:
        try:
            numbers = [int(part) for part in str(text).split(":")]
        except ValueError:
            raise bad from None
    if len(numbers) not in (1, 2) or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise bad
    start, end = (numbers[0], numbers[0] + 1) if len(numbers) == 1 else numbers
    if not 0 <= start < end:
        raise ValueError(f"column span {text!r}: expected 0 <= start < end")
    return start, end


def parse_group_columns(text: str) -> dict[str, tuple[int, int]]:
    """'left_arm=0:7,right_arm=7:14,left_gripper=14' -> {group: (start, end)} (group names checked)."""
    out: dict[str, tuple[int, int]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"column selection {item!r}: expected GROUP=START:END, e.g. left_arm=0:7")
        group, span = (s.strip() for s in item.split("=", 1))
        out[group] = parse_span(span)
    if not out:
        raise ValueError(f"column selection {text!r} selects nothing; expected e.g. left_arm=0:7,right_arm=7:14")
    check_groups(out)
    return out


@dataclass
class ColumnSelection:
    """Explicit layout of a dataset (see module docstring); every field is optional."""

    state_key: str = fmt.STATE_KEY
    action_key: str = fmt.ACTION_KEY
    video_key: str | None = None
    state: dict[str, tuple[int, int]] | None = None  # group -> column span
    action: dict[str, tuple[int, int]] | None = None
    state_groups: tuple[str, ...] | None = None  # modality.json groups to use
    action_groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for part in _PARTS:
            spans, groups = getattr(self, part), getattr(self, f"{part}_groups")
            if spans is not None and groups is not None:
                raise ValueError(f"{part}: give either column spans or modality.json groups, not both")
            if spans is not None:
                spans = {g: parse_span(s) for g, s in dict(spans).items()}
                check_groups(spans)
                setattr(self, part, spans)
            if groups is not None:
                setattr(self, f"{part}_groups", check_groups(groups))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "layout") -> "ColumnSelection":
        known = {"state_key", "action_key", "video_key", "state", "action", "state_groups", "action_groups"}
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping with keys from {sorted(known)}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; expected some of {sorted(known)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> "ColumnSelection":
        """A layout file (YAML or JSON, see the module docstring). Plain `7:14` means columns 7..13 here: YAML
        1.1 would read it as the base-60 integer 434, so numbers stay text and parse_span reads them."""
        import yaml

        path = Path(path)
        try:
            data = yaml.load(path.read_text(), Loader=_LayoutLoader)
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read the layout file ({exc})") from None
        return cls.from_mapping(data or {}, str(path))


def _layout_loader():
    import yaml

    class LayoutLoader(yaml.SafeLoader):
        """SafeLoader without YAML 1.1's implicit integers (which turn `7:14` into 434)."""

    LayoutLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return LayoutLoader


_LayoutLoader = _layout_loader()


@dataclass(frozen=True)
class ResolvedPart:
    """One vector's G1 channels and the dataset columns that hold them (same order)."""

    key: str  # the parquet column (feature key)
    channels: tuple[str, ...]
    columns: np.ndarray
    source: str  # how it was resolved, for messages


def resolve_part(root: Path, info: dict, modality: dict, selection: ColumnSelection, part: str,
                 wanted: Sequence[str] | None = None) -> ResolvedPart:
    """The channels/columns of `part` ("state" or "action"); `wanted` (e.g. a model's layout) picks those
    channels by name when no explicit selection is given."""
    key = getattr(selection, f"{part}_key")
    ft = info["features"].get(key)
    if ft is None or not isinstance(ft.get("shape"), list) or len(ft["shape"]) != 1:
        raise ValueError(f"{root}: info.json has no vector feature {key!r} for the {part} "
                         f"(features: {sorted(info['features'])}); set {part}_key")
    width = int(ft["shape"][0])
    spans = getattr(selection, part)
    groups = getattr(selection, f"{part}_groups")
    if spans is not None:
        return _from_spans(root, key, spans, width, "explicit columns")
    if groups is not None:
        table = _modality_spans(root, modality, part)
        missing = [g for g in groups if g not in table]
        if missing:
            raise ValueError(f"{root}: {fmt.MODALITY_PATH} has no {part} group {missing[0]!r}; it has {list(table)}")
        return _from_spans(root, key, {g: table[g] for g in groups}, width, f"{fmt.MODALITY_PATH} groups")
    names = feature_names(ft)
    if wanted is not None and names is not None and all(w in names for w in wanted):
        lookup = {n: i for i, n in enumerate(names)}
        return ResolvedPart(key, tuple(wanted), np.array([lookup[w] for w in wanted], np.int64), "info.json names")
    if wanted is None and names is not None and all(n in _CHANNELS for n in names):
        return ResolvedPart(key, tuple(names), np.arange(len(names), dtype=np.int64), "info.json names")
    table = _modality_spans(root, modality, part)
    if table and all(g in BODY_GROUPS for g in table):
        spans = dict(sorted(table.items(), key=lambda item: item[1][0]))
        resolved = _from_spans(root, key, spans, width, f"all {fmt.MODALITY_PATH} groups")
        if wanted is None or tuple(wanted) == resolved.channels:
            return resolved
        lookup = {c: i for c, i in zip(resolved.channels, resolved.columns)}
        if all(w in lookup for w in wanted):
            return ResolvedPart(key, tuple(wanted), np.array([lookup[w] for w in wanted], np.int64),
                                f"{fmt.MODALITY_PATH} groups")
    what = f"the channels {list(wanted)}" if wanted is not None else "G1 channel names"
    raise ValueError(
        f"{root}: cannot tell which columns of {key!r} are which G1 channels: info.json names {names} are not "
        f"{what} and {fmt.MODALITY_PATH} {part} groups {list(table)} are not G1 groups {list(BODY_GROUPS)}. "
        f"Select them: --{part}-columns left_arm=0:7,right_arm=7:14,... (or a --layout file), or "
        f"--{part}-groups <modality.json group names>")


def feature_names(ft: dict) -> list[str] | None:
    """A feature's column names (a list, or LeRobot's {"motors": [...]} form), or None."""
    names = ft.get("names")
    if isinstance(names, dict):
        names = next(iter(names.values()), None) if len(names) == 1 else None
    return [str(n) for n in names] if isinstance(names, list) else None


def _modality_spans(root: Path, modality: dict, part: str) -> dict[str, tuple[int, int]]:
    table = {}
    for group, entry in (modality.get(part) or {}).items():
        try:
            table[group] = (int(entry["start"]), int(entry["end"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{root}: {fmt.MODALITY_PATH} {part}.{group} needs integer start and end") from None
    return table


def _from_spans(root: Path, key: str, spans: Mapping[str, tuple[int, int]], width: int, source: str) -> ResolvedPart:
    channels, _ = channels_of_groups(spans)
    columns: list[int] = []
    for group, (start, end) in spans.items():
        need = len(BODY_GROUPS[group])
        if end - start != need or end > width:
            raise ValueError(f"{root}: {key} group {group!r} spans columns [{start},{end}) ({source}); expected "
                             f"{need} column(s) inside a vector of {width}")
        columns += range(start, end)
    if len(set(columns)) != len(columns):
        raise ValueError(f"{root}: {key} groups overlap ({source}): {dict(spans)}")
    return ResolvedPart(key, channels, np.asarray(columns, np.int64), source)


_CHANNELS = frozenset(CHANNEL_NAMES)


def layout_for_dataset(root: str | Path, base: Any, selection: ColumnSelection | None = None) -> Any:
    """The model RobotLayout for training on the dataset at `root`: its state/action channels (all of them,
    or what `selection` picks) and control period 1 / fps; encodings and normalisation from `base`.

    The control period must come from the data: a checkpoint trained on 10 fps data that says 1/30 s would
    play its chunks three times too fast.
    """
    from dit4dit_ros.data.lerobot_meta import load_dataset_meta
    from dit4dit_ros.model.normalization import RobotLayout

    meta = load_dataset_meta(root)
    selection = selection or ColumnSelection()
    state = resolve_part(meta.root, meta.info, meta.modality, selection, "state")
    action = resolve_part(meta.root, meta.info, meta.modality, selection, "action")
    return RobotLayout.from_dict({**base.to_dict(), "state_joints": list(state.channels),
                                  "action_joints": list(action.channels), "control_period": 1.0 / meta.fps})
