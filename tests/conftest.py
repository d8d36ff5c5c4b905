"""Test-wide isolation: every test run gets its own ROS and Unitree DDS domains on loopback.

Set before any test imports rclpy or the Unitree SDK, and inherited by child processes, so that
concurrent test runs on one machine never see each other and nothing leaves the loopback interface.
"""
from __future__ import annotations

import os

import pytest

from dit4dit_ros.utils.dds_env import apply_isolation, claim_loopback_isolation
from dit4dit_ros.utils.dds_transport import configure_ros_transport

_ISOLATION = claim_loopback_isolation()
apply_isolation(_ISOLATION)
os.environ.setdefault("MUJOCO_GL", "egl")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The stack's own loopback transport (shared memory + UDP on 127.0.0.1), exactly as every entry point sets it:
# in-process test nodes use it, and processes the tests start inherit it.
configure_ros_transport()


def pytest_sessionfinish(session, exitstatus):
    """Remove the FastDDS segments of processes that died without closing them: the tests kill hung nodes on
    purpose, and each leaves 16 MB of /dev/shm (memory) behind (utils/dds_shm.py)."""
    from dit4dit_ros.utils.dds_shm import remove_zombie_segments

    removed = remove_zombie_segments()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if removed.segments and reporter is not None:
        reporter.write_line(f"removed {removed.segments} FastDDS shared-memory segment(s) of killed processes "
                            f"({removed.bytes / 1e6:.0f} MB)")


@pytest.fixture(scope="session")
def dds_isolation():
    """The DdsIsolation of this test run (ROS domain, Unitree domain, interface `lo`)."""
    return _ISOLATION


@pytest.fixture(scope="session")
def repo_root() -> str:
    return _REPO_ROOT


@pytest.fixture(scope="session")
def tiny_engine():
    """A random tiny DiT4DiT engine (10 Hz actions, the reach instruction) for runs that need a model, not a good one."""
    from dit4dit_ros.engine.torch_engine import TorchEngine
    from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
    from dit4dit_ros.model.normalization import NormalizationStats
    from dit4dit_ros.model.text_encoder import embed_prompts

    cfg = load_preset("tiny")
    layout = cfg.layout.to_dict()
    layout["control_period"] = 0.1
    cfg.layout = type(cfg.layout).from_dict(layout)
    model = DiT4DiT(cfg, load_weights=False)
    cache = embed_prompts("tiny-random:0", ["touch the red cube with the right hand"], max_length=cfg.video.prompt_max_length)
    return TorchEngine.from_model(model, NormalizationStats.for_layout(cfg.layout), cache)
