"""Declare a node's `ParamSpec`s as ROS parameters with descriptors, and validate them.

Usage in a node (the specs are a module-level tuple so that config files can be checked without ROS):

    PARAMETERS = (ParamSpec("fps", 30.0, "publish rate [Hz]", minimum=0.1, maximum=240.0), ...)
    values = declare_parameters(self, PARAMETERS)      # {name: value}, raises ParameterValueError

Why not plain `declare_parameter`: the descriptor (description, range, read-only, constraints) is what
`ros2 param describe` shows an operator, ranges are enforced by rclpy at declaration, and the rest (choices,
array lengths, element ranges) is enforced here with an error that names the node and the parameter.
Runtime changes go through the same checks (`dynamic=True` specs only; the others are read-only).
"""
from __future__ import annotations

from typing import Any, Sequence

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    ParameterValue,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from dit4dit_ros.config import ParameterValueError, ParamSpec

__all__ = ["ParamSpec", "ParameterValueError", "declare_parameters", "descriptor_for", "parameter_value"]

_ROS_TYPE = {
    "bool": ParameterType.PARAMETER_BOOL,
    "int": ParameterType.PARAMETER_INTEGER,
    "float": ParameterType.PARAMETER_DOUBLE,
    "str": ParameterType.PARAMETER_STRING,
    "bool_array": ParameterType.PARAMETER_BOOL_ARRAY,
    "int_array": ParameterType.PARAMETER_INTEGER_ARRAY,
    "float_array": ParameterType.PARAMETER_DOUBLE_ARRAY,
    "str_array": ParameterType.PARAMETER_STRING_ARRAY,
}
_VALUE_FIELD = {
    "bool_array": "bool_array_value",
    "int_array": "integer_array_value",
    "float_array": "double_array_value",
    "str_array": "string_array_value",
}


def descriptor_for(spec: ParamSpec) -> ParameterDescriptor:
    """The ROS ParameterDescriptor of `spec` (scalar ranges become rclpy-enforced ranges)."""
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=_ROS_TYPE[spec.type],
        description=spec.description,
        additional_constraints=spec.constraint_text(),
        read_only=not spec.dynamic,
    )
    if not spec.is_array and (spec.minimum is not None or spec.maximum is not None):
        if spec.type == "float":
            descriptor.floating_point_range = [
                FloatingPointRange(
                    from_value=float(spec.minimum if spec.minimum is not None else -1e308),
                    to_value=float(spec.maximum if spec.maximum is not None else 1e308),
                    step=0.0,
                )
            ]
        elif spec.type == "int":
            descriptor.integer_range = [
                IntegerRange(
                    from_value=int(spec.minimum if spec.minimum is not None else -(2**63)),
                    to_value=int(spec.maximum if spec.maximum is not None else 2**63 - 1),
                    step=1,
                )
            ]
    return descriptor


def parameter_value(node: Node, name: str) -> Any:
    """The current value of a declared parameter as a plain Python value (arrays as lists)."""
    value = node.get_parameter(name).value
    if value is not None and not isinstance(value, (bool, int, float, str)):
        value = list(value)
    return value


def _declare(node: Node, spec: ParamSpec, descriptor: ParameterDescriptor) -> None:
    if not (spec.is_array and len(spec.default) == 0):
        node.declare_parameter(spec.name, spec.default, descriptor)
        return
    # rclpy infers BYTE_ARRAY for an empty list, which would then reject the real type; declare the typed
    # empty value instead (rclpy only accepts a ParameterValue when an override exists or is ignored).
    typed_empty = ParameterValue(type=_ROS_TYPE[spec.type])
    try:
        node.declare_parameter(spec.name, typed_empty, descriptor)
    except ValueError:
        node.declare_parameter(spec.name, typed_empty, descriptor, ignore_override=True)


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on `node` and return {name: validated value}.

    Raises ParameterValueError naming the node, the parameter and what was expected when an override
    (YAML or `-p`) has the wrong type or violates a range, choice or length. Registers a set-parameters
    callback that applies the same checks to runtime changes of dynamic parameters.
    """
    node_name = node.get_fully_qualified_name()
    values: dict[str, Any] = {}
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        try:
            _declare(node, spec, descriptor_for(spec))
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            raise ParameterValueError(
                f"node {node_name}: parameter {spec.name!r} rejected: {exc}; expected {spec.type}"
                + (f" ({spec.constraint_text()})" if spec.constraint_text() else "")
            ) from None
        value = parameter_value(node, spec.name)
        try:
            values[spec.name] = spec.check(value)
        except ParameterValueError as exc:
            raise ParameterValueError(f"node {node_name}: {exc}") from None

    def on_set(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = by_name.get(param.name)
            if spec is None:
                continue
            value = param.value
            if value is not None and not isinstance(value, (bool, int, float, str)):
                value = list(value)
            try:
                spec.check(value)
            except ParameterValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def node_parameter_specs(modules: Sequence[str]) -> tuple[dict[str, tuple[ParamSpec, ...]], list[str]]:
    """Collect `NODE_NAME` and `PARAMETERS` from node modules (e.g. "dit4dit_ros.nodes.camera_node").

    Returns ({node name: specs}, [modules that exist but do not expose both names]). A module that does not
    exist is skipped (that node is not written yet); an ImportError inside an existing module propagates.
    """
    import importlib

    specs: dict[str, tuple[ParamSpec, ...]] = {}
    without: list[str] = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        name, params = getattr(module, "NODE_NAME", None), getattr(module, "PARAMETERS", None)
        if name is None or params is None:
            without.append(module_name)
            continue
        specs[name] = tuple(params)
    return specs, without
