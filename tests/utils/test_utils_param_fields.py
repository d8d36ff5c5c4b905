"""Node parameters generated from config dataclass fields: one declaration for the config, the node and the YAML."""
from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from dit4dit_ros.camera.config import CaptureConfig
from dit4dit_ros.config import ParameterValueError
from dit4dit_ros.data.recorder import RecorderConfig
from dit4dit_ros.policy.observation import ObservationConfig
from dit4dit_ros.teleop.jog import JogConfig
from dit4dit_ros.utils.param_fields import PARAM_METADATA, PARAM_NAME, from_params, param_field, param_specs


@dataclass(frozen=True)
class _Example:
    name: str  # not a parameter
    rate_hz: float = param_field(10.0, "rate [Hz]", minimum=1.0, maximum=100.0)
    mode: str = param_field("fast", "how", choices=("fast", "slow"))
    joints: tuple[str, ...] = param_field(("a", "b"), "joints", type="str_array")


def test_specs_carry_default_description_range_and_choices():
    rate, mode, joints = param_specs(_Example, prefix="ex_")
    assert (rate.name, rate.default, rate.description, rate.minimum, rate.maximum) == ("ex_rate_hz", 10.0, "rate [Hz]",
                                                                                       1.0, 100.0)
    assert mode.choices == ("fast", "slow") and joints.type == "str_array" and joints.default == ["a", "b"]
    with pytest.raises(ParameterValueError, match="rate_hz"):
        rate.check(500.0)


def test_from_params_builds_the_dataclass_with_tuples_for_arrays():
    made = from_params(_Example, {"rate_hz": 20.0, "mode": "slow", "joints": ["c"]}, name="x")
    assert made == _Example("x", 20.0, "slow", ("c",))
    with pytest.raises(KeyError, match="'mode' of _Example has no value"):
        from_params(_Example, {"rate_hz": 20.0}, name="x")


def test_a_bad_declaration_is_refused():
    @dataclass
    class Bad:
        rate: float = param_field(1000.0, "out of its own range", maximum=10.0)

    with pytest.raises(ParameterValueError):
        param_specs(Bad)
    with pytest.raises(TypeError, match="no param_field"):
        param_specs(_Plain)


@dataclass
class _Plain:
    x: int = 1


@dataclass(frozen=True)
class _Renamed:
    step: float = param_field(0.01, "step [m]", minimum=0.001, name="jog_step")
    size: int = param_field(0, "size [px]; 0 = native", minimum=0)


def test_a_field_can_have_its_own_parameter_name_and_a_node_its_own_default():
    step, size = param_specs(_Renamed, defaults={"size": 640})
    assert (step.name, step.default, size.name, size.default) == ("jog_step", 0.01, "size", 640)
    assert from_params(_Renamed, {"jog_step": 0.02, "size": 64}) == _Renamed(0.02, 64)
    with pytest.raises(KeyError, match="'jog_step' of _Renamed"):
        from_params(_Renamed, {"step": 0.02, "size": 64})
    with pytest.raises(TypeError, match=r"no parameter field\(s\) \['width'\]"):
        param_specs(_Renamed, defaults={"width": 640})
    with pytest.raises(ParameterValueError, match="size"):  # a node default is checked like the field's own
        param_specs(_Renamed, defaults={"size": -1})


@pytest.mark.parametrize("config,node_module,node_defaults", [
    (RecorderConfig, "dit4dit_ros.nodes.recorder_node", {}),
    (ObservationConfig, "dit4dit_ros.nodes.policy_node", {}),
    (CaptureConfig, "dit4dit_ros.nodes.camera_node", {"width": 640, "height": 480}),
    (JogConfig, "dit4dit_ros.nodes.teleop_node", {}),
])
def test_nodes_declare_the_config_fields_as_their_parameters(config, node_module, node_defaults):
    """The node's PARAMETERS hold each parameter field's spec exactly once, with the dataclass default (or the
    node's own default where it sets one)."""
    import importlib

    params = importlib.import_module(node_module).PARAMETERS
    declared = {s.name: s for s in params}
    assert len(declared) == len(params)
    for f in fields(config):
        if PARAM_METADATA in f.metadata:
            name = f.metadata.get(PARAM_NAME) or f.name
            expected = node_defaults.get(f.name, f.default)
            assert declared[name].default == (list(expected) if isinstance(expected, tuple) else expected), f.name
            assert declared[name].description == f.metadata[PARAM_METADATA]["description"]

