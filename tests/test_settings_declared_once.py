"""Settings are declared once: node parameters come from config dataclass fields (utils/param_fields.py), so no
module writes a ParamSpec table by hand beside a dataclass that holds the same setting."""
from __future__ import annotations

import ast
from pathlib import Path

import dit4dit_ros

ROOT = Path(dit4dit_ros.__file__).resolve().parent
# ParamSpec itself, the generator, and the specs that are generated per node or per address list, not per field
ALLOWED = {"config.py", "utils/param_fields.py", "supervision/reactions.py", "utils/dds_transport.py"}


def _paramspec_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ParamSpec"]


def test_no_hand_written_parameter_tables():
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED:
            continue
        lines = _paramspec_calls(path)
        if lines:
            offenders[rel] = lines
    assert not offenders, f"ParamSpec written by hand (declare a param_field on a config dataclass): {offenders}"


def test_every_node_declares_unique_parameters_from_dataclasses():
    from dit4dit_ros.bringup.validate import graph_parameter_specs

    for node, specs in graph_parameter_specs().items():
        names = [s.name for s in specs]
        assert len(names) == len(set(names)), (node, sorted(n for n in names if names.count(n) > 1))
