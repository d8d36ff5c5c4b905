"""ament_python + pip build script for dit4dit_ros.

colcon (on a robot with a ROS distro) and `pip install -e .` (here) both read this file. Third-party
dependencies are pinned in requirements/base.txt and installed by scripts/dev.sh, not listed here, so that
torch is always installed first and never replaced by a CUDA build.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dit4dit_ros"

# One ROS executable per node; `ros2 run dit4dit_ros <name>` and the launch files use these names.
NODE_EXECUTABLES = {
    "camera_node": "dit4dit_ros.nodes.camera_node:main",
    "g1_state_node": "dit4dit_ros.nodes.g1_state_node:main",
    "policy_node": "dit4dit_ros.nodes.policy_node:main",
    "executor_node": "dit4dit_ros.nodes.executor_node:main",
    "monitor_node": "dit4dit_ros.nodes.monitor_node:main",
    "recorder_node": "dit4dit_ros.nodes.recorder_node:main",
    "sim_robot_node": "dit4dit_ros.nodes.sim_robot_node:main",
    "teleop_node": "dit4dit_ros.nodes.teleop_node:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["model/presets/*.yaml", "sim/assets/*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz")),
        # The small demo checkpoint (weights, config, normalization, prompt cache, model card).
        (f"share/{PACKAGE}/models/g1_reach_small", glob("models/g1_reach_small/*")),
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="dit4dit_ros developers",
    description="DiT4DiT video-action policy on the Unitree G1 with ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["dit4dit = dit4dit_ros.cli:main"]
        + [f"{name} = {target}" for name, target in NODE_EXECUTABLES.items()],
    },
)
