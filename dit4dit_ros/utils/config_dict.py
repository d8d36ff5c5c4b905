"""Build a config dataclass from a plain mapping (JSON/YAML), refusing keys the dataclass does not declare.

Why one helper: every model config (video, action, layout, training, the top level) is read from files that people
edit by hand; a misspelt key silently falling back to its default trains or runs a different model than the one
written down. The check and its message live here once.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, TypeVar

T = TypeVar("T")


def unknown_keys(cls: type, data: Mapping[str, Any]) -> list[str]:
    """Keys of `data` that are not fields of the dataclass `cls`, sorted."""
    known = {f.name for f in dataclasses.fields(cls)}
    return sorted(set(data) - known)


def check_known_keys(cls: type, data: Any, section: str) -> None:
    """Raise ValueError naming `section`, the unknown keys and the accepted ones; TypeError if not a mapping."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{section} must be a mapping of settings, got {type(data).__name__}")
    unknown = unknown_keys(cls, data)
    if unknown:
        known = sorted(f.name for f in dataclasses.fields(cls))
        raise ValueError(f"{section}: unknown keys {unknown}; expected a subset of {known}")


def dataclass_from_dict(cls: type[T], data: Any, section: str,
                        nested: Optional[Mapping[str, Callable[[Any], Any]]] = None) -> T:
    """`cls(**data)` after the unknown-key check; `nested` maps field names to converters (e.g. a sub-config's
    own `from_dict`) applied to the values present. The dataclass's `__post_init__` does the value checks."""
    check_known_keys(cls, data, section)
    values = dict(data)
    for name, convert in (nested or {}).items():
        if name in values:
            values[name] = convert(values[name])
    return cls(**values)
