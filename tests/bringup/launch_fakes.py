"""Stand-ins for `launch` and `launch_ros`, which cannot be installed here (no ros-launch wheels on PyPI).

They record what a launch file builds, with the constructor signatures of the real classes the launch files
use (launch.LaunchDescription, launch.actions.DeclareLaunchArgument / SetEnvironmentVariable / OpaqueFunction,
launch.substitutions.LaunchConfiguration (and its perform(context)), launch_ros.actions.Node,
launch_ros.parameter_descriptions.ParameterValue), and resolve LaunchConfiguration values from declared
defaults or given arguments, so a test can check every node, executable, parameter file and value the file
would start with. Only the launch files' own imports are faked; ament_index_python is the real one.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class LaunchDescription:
    def __init__(self, initial_entities=None):
        self.entities = list(initial_entities or [])


@dataclass
class DeclareLaunchArgument:
    name: str
    default_value: Any = None
    description: str | None = None
    choices: list | None = None


@dataclass
class SetEnvironmentVariable:
    name: Any
    value: Any


@dataclass
class LaunchConfiguration:
    variable_name: str
    default: Any = None

    def perform(self, context: "LaunchContext") -> str:
        return context.launch_configurations[self.variable_name]


@dataclass
class OpaqueFunction:
    function: Any
    args: list | None = None
    kwargs: dict | None = None


@dataclass
class LaunchContext:
    launch_configurations: dict


@dataclass
class ParameterValue:
    value: Any
    value_type: Any = None


@dataclass
class Node:
    executable: str
    package: str | None = None
    name: str | None = None
    namespace: str | None = None
    parameters: list = field(default_factory=list)
    output: str = "log"
    arguments: list | None = None
    remappings: list | None = None


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


FAKE_MODULES = {
    "launch": _module("launch", LaunchDescription=LaunchDescription),
    "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                              SetEnvironmentVariable=SetEnvironmentVariable, OpaqueFunction=OpaqueFunction),
    "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=LaunchConfiguration),
    "launch_ros": _module("launch_ros"),
    "launch_ros.actions": _module("launch_ros.actions", Node=Node),
    "launch_ros.parameter_descriptions": _module("launch_ros.parameter_descriptions", ParameterValue=ParameterValue),
}


def load_launch_description(path: Path, monkeypatch) -> LaunchDescription:
    """Import the launch file with the fakes in sys.modules and call its generate_launch_description()."""
    for name, module in FAKE_MODULES.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@dataclass
class ResolvedNode:
    executable: str
    package: str
    name: str
    parameter_files: list[str]
    parameters: dict[str, Any]


def resolve(description: LaunchDescription, arguments: dict[str, str] | None = None):
    """(declared arguments, environment set, nodes) with every LaunchConfiguration substituted."""
    declared = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    values = {name: arg.default_value for name, arg in declared.items()}
    for name, value in (arguments or {}).items():
        if name not in declared:
            raise KeyError(f"launch argument {name!r} is not declared; declared: {sorted(declared)}")
        values[name] = value

    def sub(value):
        if isinstance(value, LaunchConfiguration):
            if value.variable_name not in values:
                raise KeyError(f"LaunchConfiguration {value.variable_name!r} has no declared argument")
            return values[value.variable_name]
        if isinstance(value, ParameterValue):
            raw = sub(value.value)
            if value.value_type is bool:
                if raw not in ("true", "false", True, False):
                    raise ValueError(f"bool launch argument value {raw!r}")
                return raw in ("true", True)
            return value.value_type(raw) if value.value_type else raw
        return value

    for name, value in values.items():
        choices = declared[name].choices
        if choices is not None and value not in choices:
            raise ValueError(f"launch argument {name}={value!r} not in {choices}")
    entities = []
    for entity in description.entities:  # an OpaqueFunction runs at launch time with the resolved arguments
        if isinstance(entity, OpaqueFunction):
            context = LaunchContext({k: str(v) for k, v in values.items()})
            entities += entity.function(context, *(entity.args or []), **(entity.kwargs or {}))
        else:
            entities.append(entity)
    env = {sub(e.name): sub(e.value) for e in entities if isinstance(e, SetEnvironmentVariable)}
    nodes = []
    for entity in entities:
        if isinstance(entity, Node):
            files, params = [], {}
            for item in entity.parameters:
                if isinstance(item, dict):
                    params.update({k: sub(v) for k, v in item.items()})
                else:
                    files.append(str(sub(item)))
            nodes.append(ResolvedNode(entity.executable, entity.package, entity.name, files, params))
    return declared, env, nodes
