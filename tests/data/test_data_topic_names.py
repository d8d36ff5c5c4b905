"""Topic names are written once, in data/topics.py: no module of the package spells one as a string literal."""
from __future__ import annotations

import ast
from pathlib import Path

from dit4dit_ros.data import topics

PACKAGE = Path(topics.__file__).resolve().parents[1]
NAMES = {v for k, v in vars(topics).items() if k.endswith(("_TOPIC", "_SERVICE")) and isinstance(v, str)}


def test_the_table_has_the_graph_topics():
    assert {"/joint_states", "/camera/ego/image_raw", "/dit4dit/action_chunk", "/dit4dit/executor/state"} <= NAMES


def test_no_module_spells_a_topic_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "data/topics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in NAMES:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, "use the names of dit4dit_ros/data/topics.py:\n" + "\n".join(found)
