"""ament_python + pip build script for dit4dit_ros.

colcon (on a robot with a ROS distro) and `pip install -e .` (here) both read this file. Third-party
dependencies are pinned in requirements/base.txt and installed by scripts/dev.sh, not listed here, so that
torch is always installed first and never replaced by a CUDA build.
"""
import os
import runpy
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.develop import develop
from setuptools.command.install import install

PACKAGE = "dit4dit_ros"
ROS_SCRIPT_DIR = f"lib/{PACKAGE}"  # setup.cfg: where `ros2 run` looks for the executables
BIN_WRAPPER = f"""#!/bin/sh
# `dit4dit` on PATH after sourcing a colcon install; the ROS executables live in {ROS_SCRIPT_DIR} for `ros2 run`.
exec "$(dirname "$0")/../{ROS_SCRIPT_DIR}/dit4dit" "$@"
"""


def _write_bin_wrapper(script_dir: str | None) -> None:
    """<prefix>/bin/dit4dit when scripts went to <prefix>/lib/dit4dit_ros (the ROS layout of a colcon build).

    colcon puts <prefix>/bin on PATH only if it holds a file. pip's wheel builds do not use this layout and
    keep their own console script in bin/, so nothing is written for them.
    """
    if not script_dir:
        return
    path = Path(script_dir)
    if path.as_posix().endswith(ROS_SCRIPT_DIR):
        bin_dir = path.parent.parent / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (bin_dir / "dit4dit").write_text(BIN_WRAPPER)
        os.chmod(bin_dir / "dit4dit", 0o755)


class InstallWithBin(install):
    def run(self) -> None:
        super().run()
        if self.root is None:  # a real install (colcon), not the staging area of a wheel
            _write_bin_wrapper(self.install_scripts)


class DevelopWithBin(develop):
    def run(self) -> None:
        super().run()
        _write_bin_wrapper(self.script_dir)

# One ROS executable per node; `ros2 run dit4dit_ros <name>` and the launch files use these names. The node
# table is read as a plain file: the package is not importable before it is installed.
NODE_SCRIPTS = runpy.run_path(str(Path(__file__).resolve().parent / PACKAGE / "node_table.py"))["console_scripts"]()

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["model/presets/*.yaml", "sim/assets/*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz")
         + glob("config/*.sh")),
        # The small demo checkpoints (weights, config, normalization, prompt cache, model card; not their eval logs).
        *[(f"share/{PACKAGE}/models/{name}", [f for f in glob(f"models/{name}/*") if os.path.isfile(f)])
          for name in ("g1_reach_small", "g1_pick_place_small")],
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="dit4dit_ros developers",
    description="DiT4DiT video-action policy on the Unitree G1 with ROS 2",
    license="Apache-2.0",
    cmdclass={"install": InstallWithBin, "develop": DevelopWithBin},
    entry_points={
        "console_scripts": ["dit4dit = dit4dit_ros.cli:main"]
        + NODE_SCRIPTS,
    },
)
