"""ParamSpec validation, the ROS-free parameter-file checker, and declaration on a real rclpy node."""
from __future__ import annotations

import textwrap

import pytest

from dit4dit_ros.config import (
    ParameterFileError,
    ParameterValueError,
    ParamSpec,
    check_parameter_file,
    parameters_for_node,
    parse_parameter_yaml,
)

SPECS = (
    ParamSpec("fps", 30.0, "rate [Hz]", minimum=1.0, maximum=120.0),
    ParamSpec("encoding", "rgb8", "output encoding", choices=("rgb8", "bgr8")),
    ParamSpec("width", 0, "width, 0 = native", minimum=0),
    ParamSpec("loop", False, "loop the file"),
    ParamSpec("d", [0.0] * 5, "distortion", length=5),
    ParamSpec("names", [], "joint names", type="str_array"),
    ParamSpec("calib.fx", 600.0, "focal length", minimum=0.0, dynamic=True),
)


def test_spec_checks_types_ranges_choices_lengths():
    by = {s.name: s for s in SPECS}
    assert by["fps"].check(60.0) == 60.0
    with pytest.raises(ParameterValueError, match="'fps'.*expected float, got 2 .*decimal point"):
        by["fps"].check(2)
    with pytest.raises(ParameterValueError, match="'fps': 500.0 is above the maximum 120.0"):
        by["fps"].check(500.0)
    with pytest.raises(ParameterValueError, match="'width'.*expected int, got True"):
        by["width"].check(True)
    with pytest.raises(ParameterValueError, match="'encoding': 'yuv' is not one of"):
        by["encoding"].check("yuv")
    with pytest.raises(ParameterValueError, match="'d': expected 5 elements, got 4"):
        by["d"].check([0.0] * 4)
    joints = ParamSpec("joints", ["a"], "joint names", choices=("a", "b"))
    with pytest.raises(ParameterValueError, match=r"'joints\[1\]': 'c' is not one of"):
        joints.check(["a", "c"])
    with pytest.raises(ValueError, match="needs a description"):
        ParamSpec("x", 1, "")
    with pytest.raises(ValueError, match="empty list"):
        ParamSpec("x", [], "no type")
    with pytest.raises(ParameterValueError, match="below the minimum"):
        ParamSpec("x", -1.0, "bad default", minimum=0.0)


def test_parse_yaml_flattens_and_merges_wildcard():
    text = textwrap.dedent("""
        /**:
          ros__parameters:
            use_sim_time: true
            fps: 15.0
        /robot:
          camera:
            ros__parameters:
              fps: 25.0
              calib: {fx: 500.0}
    """)
    parsed = parse_parameter_yaml(text)
    assert parsed["/robot/camera"] == {"fps": 25.0, "calib.fx": 500.0}
    merged = parameters_for_node(parsed, "camera", "/robot")
    assert merged == {"use_sim_time": True, "fps": 25.0, "calib.fx": 500.0}
    assert parameters_for_node(parsed, "other") == {"use_sim_time": True, "fps": 15.0}
    with pytest.raises(ParameterFileError, match="must map to 'ros__parameters'"):
        parse_parameter_yaml("camera: 3")


def test_check_parameter_file_reports_every_problem(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
        /**:
          ros__parameters: {use_sim_time: true, other_nodes_param: 1}
        camera:
          ros__parameters: {fps: 20, encodng: rgb8, width: 320}
        camra:
          ros__parameters: {fps: 1.0}
    """))
    with pytest.raises(ParameterFileError) as info:
        check_parameter_file(path, {"camera": SPECS})
    text = str(info.value)
    assert "'fps'" in text and "decimal point" in text
    assert "unknown parameter 'encodng' (did you mean ['encoding']?)" in text
    assert "section 'camra' names no known node" in text
    assert "'/**' parameter 'other_nodes_param' is declared by no node" in text
    assert "node 'camera': unknown parameter 'other_nodes_param'" not in text  # wildcards reach declarers only
    # A wildcard key of an unchecked node is not an error (that node may declare it).
    path.write_text("/**:\n  ros__parameters: {other_nodes_param: 1}\ncamera:\n  ros__parameters: {fps: 20.0}\n")
    check_parameter_file(path, {"camera": SPECS}, unchecked_nodes=["policy"])
    path.write_text("camera:\n  ros__parameters: {fps: 20.0, width: 320}\n")
    effective = check_parameter_file(path, {"camera": SPECS, "g1_state": ()})
    assert effective["camera"]["fps"] == 20.0 and effective["camera"]["encoding"] == "rgb8"
    with pytest.raises(ParameterFileError, match="'g1_state' has no section"):
        check_parameter_file(path, {"camera": SPECS, "g1_state": ()}, require_all_nodes=True)
    with pytest.raises(ParameterFileError, match="does not exist"):
        check_parameter_file(tmp_path / "missing.yaml", {})


@pytest.fixture
def rclpy_context():
    import rclpy

    contexts = []

    def make(args):
        ctx = rclpy.Context()
        rclpy.init(args=args, context=ctx)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        rclpy.shutdown(context=ctx)


def _node(rclpy_context, tmp_path, yaml_text: str | None, name: str = "camera"):
    import rclpy

    args = ["--ros-args"]
    if yaml_text is not None:
        path = tmp_path / "params.yaml"
        path.write_text(yaml_text)
        args += ["--params-file", str(path)]
    return rclpy.create_node(name, context=rclpy_context(args))


def test_declare_parameters_on_a_node(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from dit4dit_ros.nodes.ros_params import declare_parameters

    node = _node(rclpy_context, tmp_path, "camera:\n  ros__parameters:\n    fps: 10.0\n    names: [a, b]\n")
    try:
        values = declare_parameters(node, SPECS)
        assert values["fps"] == 10.0 and values["names"] == ["a", "b"] and values["d"] == [0.0] * 5
        descriptor = node.describe_parameter("fps")
        assert descriptor.read_only and descriptor.description == "rate [Hz]"
        assert descriptor.floating_point_range[0].to_value == 120.0
        assert not node.set_parameters([Parameter("fps", value=20.0)])[0].successful  # read-only
        assert node.set_parameters([Parameter("calib.fx", value=300.0)])[0].successful
        assert not node.set_parameters([Parameter("calib.fx", value=-1.0)])[0].successful
    finally:
        node.destroy_node()


@pytest.mark.parametrize(
    "yaml_text, match",
    [
        ("camera:\n  ros__parameters: {fps: 10}\n", "'fps' rejected.*INTEGER"),
        ("camera:\n  ros__parameters: {fps: 500.0}\n", "'fps' rejected.*out of range"),
        ("camera:\n  ros__parameters: {encoding: yuv}\n", "'encoding': 'yuv' is not one of"),
        ("camera:\n  ros__parameters: {d: [1.0, 2.0]}\n", "'d': expected 5 elements"),
    ],
)
def test_declare_parameters_rejects_bad_overrides(rclpy_context, tmp_path, yaml_text, match):
    from dit4dit_ros.nodes.ros_params import declare_parameters

    node = _node(rclpy_context, tmp_path, yaml_text)
    try:
        with pytest.raises(ParameterValueError, match=match):
            declare_parameters(node, SPECS)
    finally:
        node.destroy_node()
