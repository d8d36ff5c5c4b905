"""The sockets a set of processes has bound, from /proc (Linux; no extra dependency), and which of them listen on
every interface (0.0.0.0 / ::) rather than a named one.

Used to show that "all traffic stays on loopback" holds at the socket level, not only in a profile's intent.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_TABLES = {"udp": 4, "udp6": 6, "tcp": 4, "tcp6": 6}
_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class BoundSocket:
    pid: int
    protocol: str  # udp | udp6 | tcp | tcp6
    address: str
    port: int

    @property
    def wildcard(self) -> bool:
        return ipaddress.ip_address(self.address).is_unspecified

    def __str__(self) -> str:
        return f"pid {self.pid} {self.protocol} {self.address}:{self.port}"


def _decode(hex_addr: str, family: int) -> tuple[str, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    if family == 4:
        address = str(ipaddress.IPv4Address(raw[::-1]))
    else:  # four little-endian 32-bit words
        address = str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return address, int(port, 16)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def bound_sockets(pids: Iterable[int]) -> list[BoundSocket]:
    """UDP sockets and listening TCP sockets of `pids` (connected TCP sockets and unix sockets are left out)."""
    out = []
    for pid in pids:
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        for table, family in _TABLES.items():
            try:
                lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if fields[9] not in inodes or (table.startswith("tcp") and fields[3] != _TCP_LISTEN):
                    continue
                address, port = _decode(fields[1], family)
                out.append(BoundSocket(pid, table, address, port))
    return out


def cyclone_unicast_ports(domain_id: int, max_participant_index: int) -> set[int]:
    """The unicast discovery and data ports of a CycloneDDS domain with participant indices 0..max (DDSI port
    mapping: 7400 + 250 * domain + 10 + 2 * index, and + 1)."""
    base = 7400 + 250 * domain_id + 10
    return {base + 2 * i + k for i in range(max_participant_index + 1) for k in (0, 1)}
