"""Node parameters declared on the config dataclasses they fill, so that each setting is written once.

A ROS-free config dataclass (RecorderConfig, CaptureConfig, ...) marks the fields a node exposes as ROS
parameters with `param_field(default, description, minimum=..., choices=...)`. The node then declares
`param_specs(RecorderConfig)` (ParamSpecs generated from the fields: name, default, description, range,
choices) and builds its config with `from_params(RecorderConfig, values, ...)`, instead of repeating every
setting as a ParamSpec and again in a hand-written mapping. The YAML checker sees the same specs (the node's
PARAMETERS), so a typo in a deployment file is still an error naming the key and the node.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from dit4dit_ros.config import ParamSpec

PARAM_METADATA = "dit4dit_param"  # key of the field metadata that makes a field a node parameter
PARAM_NAME = "dit4dit_param_name"  # key of the parameter's name where it is not the field's


def _name(f: dataclasses.Field, prefix: str) -> str:
    return prefix + (f.metadata.get(PARAM_NAME) or f.name)


def param_field(default: Any, description: str, *, minimum: float | None = None, maximum: float | None = None,
                choices: tuple[Any, ...] | None = None, type: str | None = None, length: int | None = None,
                dynamic: bool = False, name: str | None = None) -> Any:
    """A dataclass field with `default` that is also the node parameter of the same name (ParamSpec's rules).

    Tuple defaults (immutable, so safe as a plain default) become array parameters; the ParamSpec is built and
    so checked (type, range, choices of the default) when param_specs() is called. `name` gives the parameter a
    name other than the field's (the teleop node's `jog_step` is JogConfig.step).
    """
    meta = {PARAM_METADATA: {"description": description, "minimum": minimum, "maximum": maximum,
                             "choices": choices, "type": type, "length": length, "dynamic": dynamic},
            PARAM_NAME: name}
    return dataclasses.field(default=default, metadata=meta)


def _parameter_fields(cls: type) -> list[dataclasses.Field]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return [f for f in dataclasses.fields(cls) if PARAM_METADATA in f.metadata]


def param_specs(cls: type, prefix: str = "", defaults: Mapping[str, Any] | None = None) -> tuple[ParamSpec, ...]:
    """The ParamSpecs of `cls`'s parameter fields, in field order, named `prefix + field name` (or the field's
    `name`).

    `defaults` ({field name: value}) replaces a field's default for this node only (the camera node publishes
    640x480 where the ROS-free CaptureConfig keeps the native size); each value is checked like the field's own.
    """
    fields = _parameter_fields(cls)
    unknown = sorted(set(defaults or {}) - {f.name for f in fields})
    if unknown:
        raise TypeError(f"{cls.__name__} has no parameter field(s) {unknown} to give a default")
    specs = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a parameter field needs a default")
        default = (defaults or {}).get(f.name, f.default)
        specs.append(ParamSpec(_name(f, prefix), default, **f.metadata[PARAM_METADATA]))
    if not specs:
        raise TypeError(f"{cls.__name__} has no param_field fields")
    return tuple(specs)


def from_params(cls: type, values: Mapping[str, Any], prefix: str = "", **others: Any) -> Any:
    """`cls(**fields)` from node parameter values (names as param_specs gives them) plus `others` for the fields
    that are not parameters. Array values become tuples where the field's default is a tuple."""
    kwargs: dict[str, Any] = {}
    for f in _parameter_fields(cls):
        if f.name in others:
            continue
        name = _name(f, prefix)
        if name not in values:
            raise KeyError(f"parameter {name!r} of {cls.__name__} has no value (declare param_specs({cls.__name__}))")
        value = values[name]
        kwargs[f.name] = tuple(value) if isinstance(f.default, tuple) else value
    return cls(**kwargs, **others)
