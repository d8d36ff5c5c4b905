"""`dit4dit robot-description`: write the URDF and meshes generated from the G1 MuJoCo model (g1/description.py)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="directory for g1.urdf and meshes/ (e.g. a package's share/"
                   "dit4dit_ros/description on a robot with a ROS distro)")
    p.add_argument("--mesh-uri-prefix", help="URI prefix of the meshes in the URDF (default: file:// of OUT/meshes; "
                   "e.g. package://dit4dit_ros/description/meshes/)")


def _run(args: argparse.Namespace) -> int:
    from dit4dit_ros.g1.description import RobotDescription
    from dit4dit_ros.g1.model import build_robot_model

    description = RobotDescription(build_robot_model())
    path = description.write(args.out, args.mesh_uri_prefix)
    meshes = sorted((args.out / "meshes").glob("*.stl"))
    print(f"wrote {path} ({len(description.bodies)} links) and {len(meshes)} meshes "
          f"({sum(m.stat().st_size for m in meshes) / 1e6:.1f} MB)")
    return 0


def register(registry) -> None:
    registry.add_command("robot-description", "write the G1 URDF + meshes generated from the MuJoCo model in use",
                         _arguments, _run)
