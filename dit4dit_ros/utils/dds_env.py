"""DDS isolation: which ROS domain, Unitree DDS domain and network interface a process uses.

Tests and demos must keep all traffic on loopback and must not see other runs' traffic. ROS 2 (FastDDS)
and the Unitree SDK (CycloneDDS) use *different* domain ids: RUNTIME.md found that both stacks on one
domain without a special profile either do not match or crash the Cyclone side.

Environment variables (read by every process of the graph, so child processes inherit the isolation):
- ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE: standard ROS 2.
- DIT4DIT_UNITREE_DOMAIN: CycloneDDS domain of the Unitree SDK (the real robot uses 0).
- DIT4DIT_UNITREE_INTERFACE: network interface of the Unitree SDK (`lo` in sim/tests, the robot NIC on a G1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

UNITREE_DOMAIN_ENV = "DIT4DIT_UNITREE_DOMAIN"
UNITREE_INTERFACE_ENV = "DIT4DIT_UNITREE_INTERFACE"
MAX_ROS_DOMAIN = 101  # FastDDS port mapping limit on Linux
MAX_CYCLONE_DOMAIN = 232


@dataclass(frozen=True)
class DdsIsolation:
    ros_domain_id: int
    unitree_domain_id: int
    unitree_interface: str

    def __post_init__(self) -> None:
        if not 0 <= self.ros_domain_id <= MAX_ROS_DOMAIN:
            raise ValueError(f"ROS_DOMAIN_ID must be in 0..{MAX_ROS_DOMAIN}, got {self.ros_domain_id}")
        if not 0 <= self.unitree_domain_id <= MAX_CYCLONE_DOMAIN:
            raise ValueError(f"{UNITREE_DOMAIN_ENV} must be in 0..{MAX_CYCLONE_DOMAIN}, got {self.unitree_domain_id}")
        if not self.unitree_interface:
            raise ValueError(f"{UNITREE_INTERFACE_ENV} must name a network interface (e.g. 'lo')")

    def environ(self) -> dict[str, str]:
        """Environment entries that give a child process the same isolation."""
        return {
            "ROS_DOMAIN_ID": str(self.ros_domain_id),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST" if self.unitree_interface == "lo" else "SUBNET",
            UNITREE_DOMAIN_ENV: str(self.unitree_domain_id),
            UNITREE_INTERFACE_ENV: self.unitree_interface,
        }


def loopback_isolation_for(seed: int) -> DdsIsolation:
    """A loopback isolation derived from `seed` (e.g. a pid): ROS domain 1..100, Unitree domain 120..219."""
    slot = seed % 100
    return DdsIsolation(ros_domain_id=1 + slot, unitree_domain_id=120 + slot, unitree_interface="lo")


def isolation_from_env(default_interface: str = "lo") -> DdsIsolation:
    """The isolation this process was started with (environment), with loopback defaults."""
    return DdsIsolation(
        ros_domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")),
        unitree_domain_id=int(os.environ.get(UNITREE_DOMAIN_ENV, "0")),
        unitree_interface=os.environ.get(UNITREE_INTERFACE_ENV, default_interface),
    )


def apply_isolation(isolation: DdsIsolation) -> None:
    """Put `isolation` into os.environ (before rclpy.init / the Unitree SDK are initialised)."""
    os.environ.update(isolation.environ())
