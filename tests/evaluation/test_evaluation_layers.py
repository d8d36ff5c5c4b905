"""Layers point one way: evaluation sits above bringup; nothing below it imports it, and it forwards nothing."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dit4dit_ros"
BELOW_EVALUATION = ("model", "control", "g1", "sim", "data", "policy", "engine", "camera", "monitor", "teleop",
                    "bringup", "nodes", "utils", "demo")


def imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_no_package_below_evaluation_imports_it():
    offenders = []
    for area in BELOW_EVALUATION:
        for path in sorted((PACKAGE / area).rglob("*.py")):
            if any(m == "dit4dit_ros.evaluation" or m.startswith("dit4dit_ros.evaluation.") for m in imported_modules(path)):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert not offenders, f"these modules import dit4dit_ros.evaluation (it sits above them): {offenders}"


def test_the_old_evaluation_modules_are_gone():
    assert not (PACKAGE / "demo" / "evaluate.py").exists() and not (PACKAGE / "bringup" / "graph_eval.py").exists()
    assert not (PACKAGE / "demo" / "camera.py").exists()  # one camera: sim/camera.py SimCamera
    for path in PACKAGE.rglob("*.py"):
        mods = imported_modules(path)
        assert not {"dit4dit_ros.demo.evaluate", "dit4dit_ros.bringup.graph_eval", "dit4dit_ros.demo.camera"} & mods, path


def test_ros_free_monitor_core_does_not_import_rclpy():
    for path in (PACKAGE / "monitor").rglob("*.py"):
        mods = imported_modules(path)
        assert not any(m.split(".")[0] in ("rclpy",) or m.startswith("dit4dit_ros.nodes") for m in mods), path
