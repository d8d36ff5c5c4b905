"""Node parameters generated from config dataclass fields: one declaration for the config, the node and the YAML."""
from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from dit4dit_ros.config import ParameterValueError
from dit4dit_ros.data.recorder import RecorderConfig
from dit4dit_ros.policy.observation import ObservationConfig
from dit4dit_ros.utils.param_fields import PARAM_METADATA, from_params, param_field, param_specs


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


@pytest.mark.parametrize("config,node_module", [(RecorderConfig, "dit4dit_ros.nodes.recorder_node"),
                                                (ObservationConfig, "dit4dit_ros.nodes.policy_node")])
def test_nodes_declare_the_config_fields_as_their_parameters(config, node_module):
    """The node's PARAMETERS hold each parameter field's spec exactly once, with the dataclass default."""
    import importlib

    declared = {s.name: s for s in importlib.import_module(node_module).PARAMETERS}
    for f in fields(config):
        if PARAM_METADATA in f.metadata:
            assert declared[f.name].default == f.default, f.name
            assert declared[f.name].description == f.metadata[PARAM_METADATA]["description"]
