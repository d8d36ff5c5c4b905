"""Where the package's shipped files are, for a source checkout and for an installed (colcon/pip) package.

A source checkout (pip install -e . or a git clone) keeps config/ and models/ next to the package; colcon and
pip installs copy them to <prefix>/share/dit4dit_ros/ (setup.py data_files). Nothing is looked up by an
absolute path.
"""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "dit4dit_ros"
DEMO_CHECKPOINT = "g1_reach_small"


def _candidates(kind: str) -> list[Path]:
    source_root = Path(__file__).resolve().parent.parent
    return [source_root / kind, Path(sys.prefix) / "share" / PACKAGE / kind]


def shared_dir(kind: str) -> Path:
    """The first existing `config` or `models` directory of this installation."""
    if kind not in ("config", "models"):
        raise ValueError(f"kind must be 'config' or 'models', got {kind!r}")
    for path in _candidates(kind):
        if path.is_dir():
            return path
    raise FileNotFoundError(f"no {kind}/ directory found; looked in {[str(p) for p in _candidates(kind)]}")


def demo_checkpoint() -> Path:
    """The small demo checkpoint shipped in models/ (trained on scripted-expert reach demonstrations)."""
    path = shared_dir("models") / DEMO_CHECKPOINT
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the demo checkpoint {path} is missing (expected config.json there)")
    return path


def config_file(name: str) -> Path:
    path = shared_dir("config") / name
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    return path
