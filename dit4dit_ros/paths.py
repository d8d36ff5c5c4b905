"""Where the package's shipped files are, for a source checkout and for an installed (colcon/pip) package.

A source checkout (pip install -e . or a git clone; colcon --symlink-install) keeps config/ and models/ next to
the package. colcon and pip installs copy them to <prefix>/share/dit4dit_ros/ (setup.py data_files): found
through the ament index (AMENT_PREFIX_PATH, set by sourcing a colcon install; ament_index_python, imported
lazily so that this module stays importable without ROS), else under the Python prefix. Nothing is looked
up by an absolute path.
"""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "dit4dit_ros"
DEMO_CHECKPOINT = "g1_reach_small"


def _ament_share_dir() -> Path | None:
    """<prefix>/share/dit4dit_ros of the install the ament index names, if any."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, LookupError, OSError):  # OSError: AMENT_PREFIX_PATH unset
        return None


def _candidates(kind: str) -> list[Path]:
    source_root = Path(__file__).resolve().parent.parent
    candidates = [source_root / kind]
    ament = _ament_share_dir()
    if ament is not None:
        candidates.append(ament / kind)
    candidates.append(Path(sys.prefix) / "share" / PACKAGE / kind)
    return candidates


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
