"""ROS-free node parameter declarations and a loader/validator for ROS 2 parameter YAML files.

Each node declares its parameters once, as a tuple of `ParamSpec` (name, default, description, range,
choices). The same tuple is used twice:
- by the node (`dit4dit_ros.nodes.ros_params.declare_parameters`) to declare ROS parameters with descriptors;
- here, without rclpy, to check a deployment YAML (config/g1_sim.yaml, config/g1_real.yaml) before anything
  is launched: unknown names (typos) and wrong types are caught by a unit test instead of on the robot.

The type rules follow rclpy's: a parameter declared as a double rejects an integer override (`2` must be
written `2.0`), and a bool is never an int. That strictness is why the YAML is checked here.

Parameter YAML layout (the standard ROS 2 `--params-file` format):
    camera:                      # node name ("/ns/name" and "/**" wildcards are understood too)
      ros__parameters:
        fps: 30.0
        calibration: {fx: 600.0}  # nested maps are flattened to "calibration.fx"
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

PARAM_TYPES: tuple[str, ...] = ("bool", "int", "float", "str", "bool_array", "int_array", "float_array", "str_array")
_SCALAR_OF = {"bool_array": "bool", "int_array": "int", "float_array": "float", "str_array": "str"}
# Parameters every rclpy node declares itself; a YAML may set them for any node.
BUILTIN_PARAMETERS: frozenset[str] = frozenset({"use_sim_time", "start_type_description_service"})
BUILTIN_PREFIXES: tuple[str, ...] = ("qos_overrides.",)
WILDCARD_NODE = "/**"


class ParameterValueError(ValueError):
    """A parameter value does not satisfy its declaration (type, range, choices, length)."""


class ParameterFileError(ValueError):
    """A parameter YAML file is malformed or does not match the nodes' declarations."""


def _scalar_type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def infer_param_type(value: Any) -> str:
    """The PARAM_TYPES name of a Python value (a non-empty homogeneous list for arrays)."""
    scalar = _scalar_type_of(value)
    if scalar is not None:
        return scalar
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("cannot infer the type of an empty list: give ParamSpec(type=...) explicitly")
        kinds = {_scalar_type_of(v) for v in value}
        if len(kinds) == 1 and None not in kinds:
            return f"{kinds.pop()}_array"
        raise ValueError(f"list parameter values must be homogeneous bool/int/float/str, got {value!r}")
    raise ValueError(f"unsupported parameter value {value!r} of type {type(value).__name__}")


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: its declaration and its validation rules.

    `minimum`/`maximum` bound int/float values (element-wise for arrays); `choices` lists the allowed values;
    `length` fixes an array's length (choices and ranges apply to each element of an array). Parameters are read-only unless `dynamic=True` (a node reads most of
    them once at start-up, and a silently ignored runtime change is worse than a refused one).
    """

    name: str
    default: Any
    description: str
    type: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    length: int | None = None
    dynamic: bool = False

    def __post_init__(self) -> None:
        if not self.name or not all(part.isidentifier() for part in self.name.split(".")):
            raise ValueError(f"parameter name {self.name!r} must be dot-separated identifiers")
        if not self.description:
            raise ValueError(f"parameter {self.name!r} needs a description")
        kind = self.type if self.type is not None else infer_param_type(self.default)
        if kind not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name!r}: type {kind!r} is not one of {PARAM_TYPES}")
        object.__setattr__(self, "type", kind)
        if isinstance(self.default, tuple):
            object.__setattr__(self, "default", list(self.default))
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if (self.minimum is not None or self.maximum is not None) and self.element_type not in ("int", "float"):
            raise ValueError(f"parameter {self.name!r}: minimum/maximum only apply to numeric parameters")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"parameter {self.name!r}: minimum {self.minimum} > maximum {self.maximum}")
        self.check(self.default)  # the default itself must be valid

    @property
    def is_array(self) -> bool:
        return self.type.endswith("_array")

    @property
    def element_type(self) -> str:
        return _SCALAR_OF.get(self.type, self.type)

    def check(self, value: Any) -> Any:
        """`value` if it satisfies this declaration, else ParameterValueError naming the parameter."""
        if self.is_array:
            if not isinstance(value, (list, tuple)):
                raise ParameterValueError(f"parameter {self.name!r}: expected a list ({self.type}), got {value!r}")
            values = list(value)
            if self.length is not None and len(values) != self.length:
                raise ParameterValueError(
                    f"parameter {self.name!r}: expected {self.length} elements, got {len(values)}"
                )
            for i, element in enumerate(values):
                self._check_scalar(element, f"{self.name}[{i}]")
            return values
        self._check_scalar(value, self.name)
        return value

    def _check_scalar(self, value: Any, label: str) -> None:
        kind = _scalar_type_of(value)
        if kind != self.element_type:
            hint = " (write it with a decimal point, e.g. 2.0)" if kind == "int" and self.element_type == "float" else ""
            raise ParameterValueError(
                f"parameter {label!r}: expected {self.element_type}, got {value!r} ({kind or type(value).__name__}){hint}"
            )
        if kind == "float" and not math.isfinite(value) and (self.minimum is not None or self.maximum is not None):
            raise ParameterValueError(f"parameter {label!r}: expected a finite number, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ParameterValueError(f"parameter {label!r}: {value!r} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ParameterValueError(f"parameter {label!r}: {value!r} is above the maximum {self.maximum}")
        if self.choices is not None and value not in self.choices:
            raise ParameterValueError(f"parameter {label!r}: {value!r} is not one of {list(self.choices)}")

    def constraint_text(self) -> str:
        """Human-readable constraints (ROS ParameterDescriptor.additional_constraints)."""
        parts = []
        if self.choices is not None:
            parts.append(f"one of {list(self.choices)}")
        if self.minimum is not None:
            parts.append(f">= {self.minimum}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum}")
        if self.length is not None:
            parts.append(f"exactly {self.length} elements")
        return ", ".join(parts)


def defaults(specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """name -> default value of `specs`."""
    return {spec.name: spec.default for spec in specs}


def _flatten(prefix: str, mapping: Mapping[str, Any], out: dict[str, Any], where: str) -> None:
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ParameterFileError(f"{where}: parameter key {key!r} must be a string")
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(name, value, out, where)
        else:
            out[name] = value


def parse_parameter_yaml(text: str, source: str = "<string>") -> dict[str, dict[str, Any]]:
    """node key -> {flattened parameter name: value} from ROS 2 parameter YAML text.

    Node keys are kept as written ("camera", "/ns/camera", "/**"); namespaces nested as maps
    (`/ns: {camera: {ros__parameters: ...}}`) are joined into "/ns/camera".
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterFileError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ParameterFileError(f"{source}: top level must be a map of node names, got {type(data).__name__}")
    result: dict[str, dict[str, Any]] = {}

    def walk(path: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            key = str(key)
            full = key if not path else f"{path.rstrip('/')}/{key.lstrip('/')}"
            if not isinstance(value, Mapping):
                raise ParameterFileError(f"{source}: {full!r} must map to 'ros__parameters', got {value!r}")
            if "ros__parameters" in value:
                extra = set(value) - {"ros__parameters"}
                if extra:
                    raise ParameterFileError(f"{source}: {full!r} has keys {sorted(extra)} beside ros__parameters")
                params = value["ros__parameters"] or {}
                if not isinstance(params, Mapping):
                    raise ParameterFileError(f"{source}: {full}.ros__parameters must be a map")
                flat: dict[str, Any] = {}
                _flatten("", params, flat, f"{source}: {full}")
                result.setdefault(full, {}).update(flat)
            else:
                walk(full, value)

    walk("", data)
    return result


def load_parameter_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """parse_parameter_yaml of a file; a missing file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ParameterFileError(f"parameter file {str(path)!r} does not exist")
    return parse_parameter_yaml(path.read_text(), source=str(path))


def _matches(key: str, node_name: str, namespace: str) -> bool:
    if key in (WILDCARD_NODE, node_name, f"/{node_name}"):
        return True
    full = f"{namespace.rstrip('/')}/{node_name}" if namespace else f"/{node_name}"
    return key in (full, f"/**/{node_name}")


def parameters_for_node(
    file_params: Mapping[str, Mapping[str, Any]], node_name: str, namespace: str = ""
) -> dict[str, Any]:
    """The parameters a node called `node_name` receives from a parsed file (wildcard first, then its own)."""
    merged: dict[str, Any] = dict(file_params.get(WILDCARD_NODE, {}))
    for key, params in file_params.items():
        if key != WILDCARD_NODE and _matches(key, node_name, namespace):
            merged.update(params)
    return merged


def validate_node_parameters(
    node_name: str, values: Mapping[str, Any], specs: Sequence[ParamSpec], allow_unknown: Iterable[str] = ()
) -> list[str]:
    """Problems (empty if none) of `values` against `specs`: unknown names, wrong types, ranges, choices."""
    by_name = {spec.name: spec for spec in specs}
    allowed_extra = set(allow_unknown) | BUILTIN_PARAMETERS
    problems = []
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            if name in allowed_extra or name.startswith(BUILTIN_PREFIXES):
                continue
            close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.7)
            hint = f" (did you mean {close}?)" if close else ""
            problems.append(f"node {node_name!r}: unknown parameter {name!r}{hint}; declared: {sorted(by_name)}")
            continue
        try:
            spec.check(value)
        except ParameterValueError as exc:
            problems.append(f"node {node_name!r}: {exc}")
    return problems


def check_parameter_file(
    path: str | Path,
    node_specs: Mapping[str, Sequence[ParamSpec]],
    require_all_nodes: bool = False,
    unchecked_nodes: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Check every node section of a parameter file against `node_specs` (node name -> its ParamSpecs).

    A section whose node is not in `node_specs` is an error (a typo in a node name silently configures
    nothing); wildcard ("/**") entries are only checked for the nodes that declare them. With
    `require_all_nodes`, each node in `node_specs` must have its own section. Returns, per node, the
    effective parameters (defaults overlaid with the file's values). Raises ParameterFileError listing
    every problem. Sections of `unchecked_nodes` (known nodes that do not publish ParamSpecs) are accepted
    as they are.
    """
    file_params = load_parameter_file(path)
    problems: list[str] = []
    unchecked = set(unchecked_nodes)
    known = set(node_specs) | unchecked
    for key in file_params:
        if key == WILDCARD_NODE:
            continue
        name = key.rstrip("/").split("/")[-1]
        if name not in known:
            problems.append(f"section {key!r} names no known node; known nodes: {sorted(known)}")
    effective: dict[str, dict[str, Any]] = {}
    wildcard = file_params.get(WILDCARD_NODE, {})
    for node_name, specs in node_specs.items():
        own: dict[str, Any] = {}
        sections = [k for k in file_params if k != WILDCARD_NODE and k.rstrip("/").split("/")[-1] == node_name]
        for key in sections:
            own.update(file_params[key])
        if require_all_nodes and not sections:
            problems.append(f"node {node_name!r} has no section")
        declared = {spec.name for spec in specs}
        # A wildcard parameter only reaches the nodes that declare it: check it there, ignore it elsewhere.
        checked = {k: v for k, v in wildcard.items() if k in declared}
        checked.update(own)
        problems.extend(validate_node_parameters(node_name, checked, specs))
        values = defaults(specs)
        values.update(checked)
        effective[node_name] = values
    if not unchecked:  # with unchecked nodes we cannot know whether one of them declares a wildcard key
        declared_anywhere = {spec.name for specs in node_specs.values() for spec in specs}
        for key in wildcard:
            if key not in declared_anywhere and key not in BUILTIN_PARAMETERS and not key.startswith(BUILTIN_PREFIXES):
                problems.append(f"'/**' parameter {key!r} is declared by no node")
    if problems:
        raise ParameterFileError(f"{path}: " + "; ".join(problems))
    return effective
