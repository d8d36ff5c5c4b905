"""DDS isolation: which ROS domain, Unitree DDS domain and network interface a process uses.

Tests and demos must keep all traffic on loopback and must not see other runs' traffic. ROS 2 (FastDDS)
and the Unitree SDK (CycloneDDS) use *different* domain ids: both stacks on one
domain without a special profile either do not match or crash the Cyclone side (docs/platform.md).

The clash is checked, not only documented: `domain_clash` / `require_no_domain_clash` refuse a ROS domain
equal to the Unitree domain (the G1 and ROS both default to 0) unless the FastDDS profile in effect disables
type propagation (config/fastdds_lo_interop_notypes.xml) or ROS itself runs on CycloneDDS. Every entry point
that joins the Unitree domain checks it (g1/dds.py init_unitree_dds; `dit4dit run` before starting anything).

Environment variables (read by every process of the graph, so child processes inherit the isolation):
- ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE: standard ROS 2.
- DIT4DIT_UNITREE_DOMAIN: CycloneDDS domain of the Unitree SDK (the real robot uses 0).
- DIT4DIT_UNITREE_INTERFACE: network interface of the Unitree SDK (`lo` in sim/tests, the robot NIC on a G1).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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
    """Put `isolation` into os.environ (before rclpy.init / the Unitree SDK are initialised).

    Under the stack's own transport profile (utils/dds_transport.py) discovery stays SUBNET: the profile's
    interface whitelist confines it, and LOCALHOST would open sockets on all interfaces.
    """
    from dit4dit_ros.utils.dds_transport import DISCOVERY_RANGE_ENV, TRANSPORT_ENV

    os.environ.update(isolation.environ())
    if os.environ.get(TRANSPORT_ENV):
        os.environ[DISCOVERY_RANGE_ENV] = "SUBNET"


class DomainClashError(RuntimeError):
    """ROS 2 and the Unitree SDK would share one DDS domain in a way that breaks both."""


_TYPE_PROPAGATION = "fastdds.type_propagation"


def _profile_disables_type_propagation(path: str) -> bool:
    """True if the FastDDS XML profile at `path` sets fastdds.type_propagation to disabled."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return False
    for prop in root.iter():
        if prop.tag.rsplit("}", 1)[-1] != "property":
            continue
        values = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in prop}
        if values.get("name") == _TYPE_PROPAGATION and values.get("value") == "disabled":
            return True
    return False


def domain_clash(isolation: DdsIsolation, environ: Mapping[str, str] | None = None) -> str | None:
    """Why `isolation` would put ROS 2 and the Unitree SDK on one DDS domain that breaks them; None if fine."""
    env = os.environ if environ is None else environ
    if isolation.ros_domain_id != isolation.unitree_domain_id:
        return None
    rmw = env.get("RMW_IMPLEMENTATION", "") or "rmw_fastrtps_cpp"
    if rmw == "rmw_cyclonedds_cpp":
        return None  # both sides CycloneDDS: they interoperate (Unitree's own unitree_ros2 setup)
    profile = env.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    if profile and _profile_disables_type_propagation(profile):
        return None
    return (f"ROS_DOMAIN_ID {isolation.ros_domain_id} equals the Unitree DDS domain {isolation.unitree_domain_id} "
            f"({UNITREE_DOMAIN_ENV} / the node's unitree_domain_id; a real G1 uses 0): ROS 2's FastDDS and the "
            f"Unitree SDK's CycloneDDS on one domain fail to match or crash the CycloneDDS side. Give ROS another "
            f"domain on every host of the graph (e.g. `export ROS_DOMAIN_ID=1`), or set "
            f"FASTDDS_DEFAULT_PROFILES_FILE to a profile that disables {_TYPE_PROPAGATION} "
            f"(config/fastdds_lo_interop_notypes.xml)")


def require_no_domain_clash(isolation: DdsIsolation, environ: Mapping[str, str] | None = None) -> None:
    """DomainClashError (with the fix) if `domain_clash` finds one."""
    reason = domain_clash(isolation, environ)
    if reason is not None:
        raise DomainClashError(reason)
