"""The README's layout table names every package of dit4dit_ros and every top-level folder it lists exists."""
from __future__ import annotations

import re
from pathlib import Path


def _layout_rows(repo_root: str) -> str:
    text = Path(repo_root, "README.md").read_text()
    return text[text.index("## Layout"):text.index("## Tests")]


def test_every_package_and_module_is_in_the_layout_table(repo_root):
    table = _layout_rows(repo_root)
    package = Path(repo_root, "dit4dit_ros")
    missing = [p.name for p in package.iterdir() if (p / "__init__.py").is_file() and f"{p.name}/" not in table]
    missing += [p.name for p in package.glob("*.py") if p.name != "__init__.py" and p.name not in table]
    assert not missing, f"README layout table does not mention {missing}"


def test_every_folder_the_layout_table_names_exists(repo_root):
    table = _layout_rows(repo_root)
    named = set(re.findall(r"^\| `([\w./]+/)`", table, flags=re.M))
    absent = [p for p in named if not Path(repo_root, p).is_dir()]
    assert named and not absent, f"README layout table names folders that do not exist: {absent}"
