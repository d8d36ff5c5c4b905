"""The package's layers point one way and its modules import each other without cycles.

Every `import` in every module of dit4dit_ros counts, including the ones inside functions (those are deferred
for start-up time, not to hide a dependency). A ROS-free core must never reach up into nodes/ or bringup/, and
the CLI code that starts nodes lives in bringup/, so a core's `commands.py` obeys its package's layer too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import dit4dit_ros

PACKAGE = "dit4dit_ros"
ROOT = Path(dit4dit_ros.__file__).resolve().parent

# Lowest first. A module may import from its own layer or any layer below it, never from one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("paths", "config", "node_table"),
    ("utils",),
    ("g1",),
    # model/ and data/ use each other (datasets normalise with the model's statistics; `dit4dit train` reads
    # datasets): one layer, kept apart at module level by test_no_import_cycles
    ("model", "data", "camera", "control", "policy", "monitor", "sim", "supervision", "safety", "security"),
    ("engine", "teleop"),
    ("demo",),
    ("node_params",),  # each node's own ROS parameters, ROS-free (topics, QoS, rates)
    ("nodes",),     # thin rclpy nodes over the cores
    ("bringup",),   # starts nodes: `dit4dit run`, node-running commands, graph benches
    ("evaluation",),  # direct and graph evaluation (the graph runner starts the graph through bringup)
    ("cli", "info"),  # info: the `dit4dit info` report, which asks every layer what it can do
)
ROS_FREE = {area for layer in LAYERS[:LAYERS.index(("nodes",))] for area in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The dit4dit_ros modules that module `name` imports (a `from package import submodule` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(area: str) -> int:
    for index, layer in enumerate(LAYERS):
        if area in layer:
            return index
    raise AssertionError(f"package area {area!r} has no layer in tests/test_import_layers.py LAYERS: add it")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items() if name != PACKAGE}


def test_every_area_has_a_layer():
    for module in _graph():
        _layer(_area(module))


def test_no_upward_import():
    upward = sorted(f"{src} ({_area(src)}) imports {dst} ({_area(dst)})"
                    for src, targets in _graph().items() for dst in targets
                    if _area(dst) and _layer(_area(dst)) > _layer(_area(src)))
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_ros_free_cores_do_not_import_rclpy_at_module_level():
    """The cores stay importable without rclpy: none imports it (or a ROS message package) at all."""
    offenders = []
    for name, path in _modules().items():
        if _area(name) not in ROS_FREE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{name} imports {m}" for m in mods
                          if m.split(".")[0] in ("rclpy", "rosbag2_py", "launch", "launch_ros")]
    assert not offenders, "\n".join(offenders)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_cycle_finder_finds_a_cycle():
    """The check below could fail: a made-up a -> b -> c -> a graph is reported, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other (directly or through others):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)
