"""DDS transport and socket binding, set by the stack itself in every process (ROS-free).

Why: with FastDDS's defaults a 640x480 image stream lost 92 % of its frames (`dit4dit bench record` recorded 72
of 900 from a plain shell) and every node bound its UDP sockets to 0.0.0.0; the fix, a FastDDS XML profile, was
only a comment asking the user to export FASTDDS_DEFAULT_PROFILES_FILE. Now every entry point (the `dit4dit`
CLI, each node's main, the launch files) calls `configure_ros_transport` before rclpy starts:

- ROS 2 (FastDDS): a generated profile with UDPv4 whitelisted to the addresses the deployment names (loopback by
  default; add the robot computer's address for a remote RViz), discovery on those interfaces only, initial peers
  on loopback; and, for the processes that move images (node_table.py's `images`), a 16 MB shared-memory segment.
  Shared memory only where it is needed: FastDDS delivers to a reader's shared-memory port under an
  interprocess mutex of that port, taken with a plain blocking lock (SharedMemManager::Port::try_push). A reader
  process stopped while its listener holds it (SIGSTOP, a debugger, a frozen cgroup) stalls each writer that sends
  to it until it runs again, and rclpy's publish keeps the GIL meanwhile, so the writer's whole process stands
  still: a heartbeat thread beside a 200 KB/0.5 ms publisher missed 2.4 s while its reader was stopped for 2 s
  (4 of 15 stops), and in a CI run the simulated robot missed 4 s of heartbeats behind a hung monitor and the
  supervisor stopped the graph. A UDP reader cannot do that (the kernel drops what a full socket cannot take):
  beside a stopped UDP-only reader the same publisher's worst call was 73 ms.
  ROS_AUTOMATIC_DISCOVERY_RANGE is SUBNET under this profile: the whitelist already confines it, whereas
  LOCALHOST makes rmw_fastrtps open extra sockets bound to 0.0.0.0 and to the host's external address.
  The choice is handed to child processes in the environment (DIT4DIT_DDS_TRANSPORT marks it as the stack's).
  A profile the user deliberately exported (an existing FASTDDS_DEFAULT_PROFILES_FILE, e.g. docs/split_host.md)
  is kept; one naming a missing file (FastDDS would fall back to all interfaces) is replaced, with a warning.
- Unitree SDK (CycloneDDS): `cyclonedds_config(interface)` for g1/dds.py: only the named interface; on
  loopback no multicast, unicast discovery to 127.0.0.1 with deterministic ports. CycloneDDS binds its unicast
  receive sockets to INADDR_ANY whatever the configuration (ddsi_udp.c: bind_to_any for unicast receive), so
  on the Unitree domain's discovery/data ports it still listens on all interfaces; it only sends on the named
  one. docs/dds_transport.md has the measured socket lists.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import tempfile
from pathlib import Path
from typing import MutableMapping, Sequence

from dit4dit_ros.config import ParamSpec

LOG = logging.getLogger(__name__)

TRANSPORT_ENV = "DIT4DIT_DDS_TRANSPORT"  # the addresses the stack chose for this process tree
USER_PROFILE_MARK = "profile:"  # ... or the user's own profile file, kept
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
DISCOVERY_RANGE_ENV = "ROS_AUTOMATIC_DISCOVERY_RANGE"
LOOPBACK_ADDRESSES: tuple[str, ...] = ("127.0.0.1",)
SHM_SEGMENT_BYTES = 16 * 1024 * 1024  # two 640x480 rgb8 frames and then some
# How long a service server waits for the client's reply reader to be matched before it drops the reply
# (rmw_fastrtps takes it from the "service" data_writer profile; FastDDS's default is 0.1 s). Right after
# discovery a loaded host needed longer: "failed to send response (timeout): client will not receive response"
# and a Trigger call that never returned although the service had run (the recorder's start, ci3).
SERVICE_REPLY_WAIT_S = 2
CYCLONE_MAX_PARTICIPANT_INDEX = 100  # unicast discovery probes this many ports per peer on loopback

# Read by `dit4dit run` and the launch files from the supervisor's section of the deployment YAML.
TRANSPORT_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("ros_addresses", list(LOOPBACK_ADDRESSES), "IPv4 addresses of this host that the graph's ROS 2 UDP "
              "traffic may use (large messages go over shared memory); 127.0.0.1 keeps it on this host, add the "
              "robot computer's address for a remote RViz", type="str_array"),
)


def check_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """IPv4 unicast addresses of this host's interfaces for ROS traffic; a wildcard is refused by name."""
    out = []
    for text in addresses:
        try:
            addr = ipaddress.IPv4Address(text)
        except ValueError:
            raise ValueError(f"ros_addresses: {text!r} is not an IPv4 address (e.g. 127.0.0.1)") from None
        if addr.is_unspecified or addr.is_multicast:
            raise ValueError(f"ros_addresses: {text!r} would bind all interfaces or a group; name an interface address")
        out.append(str(addr))
    if not out:
        raise ValueError("ros_addresses must name at least one address (127.0.0.1 keeps ROS traffic on this host)")
    return tuple(dict.fromkeys(out))


def fastdds_profile(addresses: Sequence[str] = LOOPBACK_ADDRESSES, shared_memory: bool = True) -> str:
    """The FastDDS XML profile for `addresses`, with the shared-memory transport or without (module docstring)."""
    addresses = check_addresses(addresses)
    whitelist = "".join(f"<address>{a}</address>" for a in addresses)
    shm_descriptor = f"""
      <transport_descriptor>
        <transport_id>shm_big</transport_id>
        <type>SHM</type>
        <segment_size>{SHM_SEGMENT_BYTES}</segment_size>
        <maxMessageSize>{SHM_SEGMENT_BYTES}</maxMessageSize>
      </transport_descriptor>""" if shared_memory else ""
    shm_use = "\n          <transport_id>shm_big</transport_id>" if shared_memory else ""
    kind = "shared memory for large messages, " if shared_memory else "no shared memory, "
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by dit4dit_ros.utils.dds_transport: {kind}UDPv4 only on {', '.join(addresses)}. -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>{shm_descriptor}
      <transport_descriptor>
        <transport_id>udp_named</transport_id>
        <type>UDPv4</type>
        <interfaceWhiteList>{whitelist}</interfaceWhiteList>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="dit4dit" is_default_profile="true">
      <rtps>
        <userTransports>{shm_use}
          <transport_id>udp_named</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
        <builtin>
          <initialPeersList>
            <locator><udpv4><address>127.0.0.1</address></udpv4></locator>
          </initialPeersList>
        </builtin>
      </rtps>
    </participant>
    <data_writer profile_name="service">
      <qos><reliability><max_blocking_time><sec>{SERVICE_REPLY_WAIT_S}</sec></max_blocking_time></reliability></qos>
    </data_writer>
  </profiles>
</dds>
"""


def write_profile(xml: str, directory: Path | None = None) -> Path:
    """The profile in a content-addressed file (shared by every process that wants the same one)."""
    directory = Path(directory or Path(tempfile.gettempdir()) / "dit4dit_dds")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fastdds_{hashlib.sha256(xml.encode()).hexdigest()[:16]}.xml"
    if not path.is_file() or path.read_text() != xml:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(xml)
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return path


def configure_ros_transport(addresses: Sequence[str] | None = None,
                            environ: MutableMapping[str, str] | None = None, shared_memory: bool = True) -> Path:
    """Set this process's (and its children's) FastDDS transport before rclpy starts; returns the profile path.

    `shared_memory`: whether this process moves images (node_table.uses_shared_memory); children redo the choice
    for themselves, they inherit only the addresses.

    Precedence: a FastDDS profile the user deliberately exported (FASTDDS_DEFAULT_PROFILES_FILE naming an
    existing file, e.g. the split-host profile of docs/split_host.md) is kept as it is; otherwise `addresses`
    from the deployment config (`dit4dit run`, launch files); otherwise a choice the stack already made in a
    parent process; otherwise loopback. A profile variable naming a missing file would silently give FastDDS's
    defaults (all interfaces): it is replaced, with a warning.
    """
    env = os.environ if environ is None else environ
    inherited = env.get(TRANSPORT_ENV, "")
    current = env.get(PROFILE_ENV, "")
    if inherited.startswith(USER_PROFILE_MARK) or (current and not inherited and Path(current).is_file()):
        if not inherited:
            LOG.info("using the FastDDS profile %s from the environment instead of the stack's (%s)", current,
                     "its interfaces and discovery are that file's")
            env[TRANSPORT_ENV] = USER_PROFILE_MARK + current
        return Path(current)
    if current and not inherited:
        LOG.warning("%s=%s does not exist: using the stack's transport profile instead", PROFILE_ENV, current)
    chosen = check_addresses(addresses if addresses is not None else
                             (inherited.split(",") if inherited else LOOPBACK_ADDRESSES))
    path = write_profile(fastdds_profile(chosen, shared_memory))
    env[PROFILE_ENV] = str(path)
    env[TRANSPORT_ENV] = ",".join(chosen)
    env[DISCOVERY_RANGE_ENV] = "SUBNET"
    return path


def cyclonedds_config(interface: str) -> str:
    """CycloneDDS configuration of the Unitree SDK's domain for `interface` ('lo' in simulation and tests)."""
    if not interface or any(c in interface for c in "<>\"'&"):
        raise ValueError(f"network interface name {interface!r} is not valid")
    loopback = interface == "lo"
    discovery = (f"<Discovery><ParticipantIndex>auto</ParticipantIndex>"
                 f"<MaxAutoParticipantIndex>{CYCLONE_MAX_PARTICIPANT_INDEX}</MaxAutoParticipantIndex>"
                 f"<Peers><Peer Address=\"127.0.0.1\"/></Peers></Discovery>") if loopback else ""
    multicast = "<AllowMulticast>false</AllowMulticast>" if loopback else ""
    return ("<CycloneDDS><Domain Id=\"any\"><General><Interfaces>"
            f"<NetworkInterface name=\"{interface}\" priority=\"default\" multicast=\"default\"/>"
            f"</Interfaces>{multicast}</General>{discovery}</Domain></CycloneDDS>")
