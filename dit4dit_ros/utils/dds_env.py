"""DDS isolation: which ROS domain, Unitree DDS domain and network interface a process uses.

Tests and demos must keep all traffic on loopback and must not see other runs' traffic. ROS 2 (FastDDS)
and the Unitree SDK (CycloneDDS) use *different* domain ids: both stacks on one
domain without a special profile either do not match or crash the Cyclone side (docs/platform.md).

Environment variables (read by every process of the graph, so child processes inherit the isolation):
- ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE: standard ROS 2.
- DIT4DIT_UNITREE_DOMAIN: CycloneDDS domain of the Unitree SDK (the real robot uses 0).
- DIT4DIT_UNITREE_INTERFACE: network interface of the Unitree SDK (`lo` in sim/tests, the robot NIC on a G1).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


_claimed: list = []  # lock files held for this process's lifetime (closing one would release its slot)
LOOPBACK_SLOTS = 100


def claim_loopback_isolation(seed: int | None = None) -> DdsIsolation:
    """A loopback isolation no other live process on this machine holds (tests, demos, `dit4dit run` in sim).

    Why: `loopback_isolation_for(pid)` alone maps two concurrent runs onto the same domains whenever their
    pids agree modulo 100, and then each run sees the other's robot. Each slot is claimed with an exclusive
    flock on a file in the temp directory, held until this process exits (the kernel drops it even on
    kill -9); the search starts at the slot of `seed` (default: the pid) and takes the first free one.
    """
    start = os.getpid() if seed is None else seed
    lock_dir = Path(tempfile.gettempdir()) / "dit4dit_dds_slots"
    lock_dir.mkdir(exist_ok=True)
    for k in range(LOOPBACK_SLOTS):
        slot = (start + k) % LOOPBACK_SLOTS
        handle = open(lock_dir / f"slot{slot:03d}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed.append(handle)
        return loopback_isolation_for(slot)
    raise RuntimeError(f"all {LOOPBACK_SLOTS} loopback DDS slots are held by other processes ({lock_dir})")


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
