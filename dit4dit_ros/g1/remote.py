"""The G1 wireless remote, read from LowState's 40 `wireless_remote` bytes, and a button -> action map.

Why: the operator holds Unitree's remote anyway; an e-stop on it needs no second device and no network
between the operator and the policy host. The robot forwards the remote's raw report in every LowState.

Layout (Unitree's `xRockerBtnDataStruct`, unitree_sdk2 example/g1/low_level/gamepad.hpp, little endian):
    bytes 0-1   head
    bytes 2-3   buttons, uint16, bit 0..15 = R1 L1 start select R2 L2 F1 F2 A B X Y up right down left
    bytes 4-23  float32 lx, rx, ry, L2 (analog trigger), ly, each in [-1, 1]
    bytes 24-39 unused
Sticks outside [-1, 1] or not finite mean the bytes are not a remote report (e.g. a simulator writing
something else there): `decode_remote` refuses them rather than reporting phantom presses.

Actions are bound to button combinations ("estop=B", "enable=R2+A"): an action fires once, on the report in
which its combination becomes complete (edge), and `held` tells which combinations are down now. The
e-stop wins: while an e-stop combination is held, no other action fires.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Iterable, Sequence

REMOTE_SIZE = 40
BUTTONS: tuple[str, ...] = ("R1", "L1", "start", "select", "R2", "L2", "F1", "F2",
                            "A", "B", "X", "Y", "up", "right", "down", "left")
_BUTTON_BIT = {name: bit for bit, name in enumerate(BUTTONS)}
_LAYOUT = struct.Struct("<2sH5f16x")  # head, buttons, lx, rx, ry, L2, ly, idle
REMOTE_ACTIONS: tuple[str, ...] = ("estop", "enable", "disable", "reset_estop")
ESTOP = "estop"
# Defaults: one button to stop, two to (re)start. Unitree's own "L2+B" (damping of its controller) contains
# B, so it also e-stops this stack. Check against the modes your robot's firmware binds before changing.
DEFAULT_REMOTE_BINDINGS: tuple[str, ...] = ("estop=B", "enable=R2+A", "disable=R2+X", "reset_estop=R2+Y")


@dataclass(frozen=True)
class RemoteState:
    """One decoded remote report: pressed buttons and the analog axes in [-1, 1]."""

    buttons: frozenset[str]
    lx: float = 0.0
    ly: float = 0.0
    rx: float = 0.0
    ry: float = 0.0
    l2: float = 0.0


def decode_remote(raw: bytes) -> RemoteState:
    """The RemoteState of 40 wireless_remote bytes; ValueError naming what is wrong otherwise."""
    if len(raw) != REMOTE_SIZE:
        raise ValueError(f"wireless_remote must be {REMOTE_SIZE} bytes, got {len(raw)}")
    _, bits, lx, rx, ry, l2, ly = _LAYOUT.unpack(bytes(raw))
    for name, value in (("lx", lx), ("ly", ly), ("rx", rx), ("ry", ry), ("L2", l2)):
        if not (math.isfinite(value) and -1.0 - 1e-6 <= value <= 1.0 + 1e-6):
            raise ValueError(f"wireless_remote axis {name} = {value!r} is outside [-1, 1]: not a remote report")
    pressed = frozenset(name for name, bit in _BUTTON_BIT.items() if bits >> bit & 1)
    return RemoteState(pressed, lx=lx, ly=ly, rx=rx, ry=ry, l2=l2)


def encode_remote(buttons: Iterable[str] = (), lx: float = 0.0, ly: float = 0.0, rx: float = 0.0,
                  ry: float = 0.0, l2: float = 0.0) -> bytes:
    """The 40 bytes a remote with these buttons and axes sends (for the simulator and tests)."""
    bits = 0
    for name in buttons:
        if name not in _BUTTON_BIT:
            raise ValueError(f"unknown remote button {name!r}; expected one of {list(BUTTONS)}")
        bits |= 1 << _BUTTON_BIT[name]
    return _LAYOUT.pack(b"\x00\x00", bits, lx, rx, ry, l2, ly)


@dataclass(frozen=True)
class RemoteBinding:
    action: str
    buttons: frozenset[str]

    def __str__(self) -> str:
        return f"{self.action}={'+'.join(b for b in BUTTONS if b in self.buttons)}"


def parse_bindings(entries: Sequence[str]) -> tuple[RemoteBinding, ...]:
    """Bindings from "action=Button+Button" strings (a ROS string-array parameter); errors name the entry."""
    bindings: list[RemoteBinding] = []
    for entry in entries:
        action, sep, combo = (part.strip() for part in str(entry).partition("="))
        if not sep or not combo:
            raise ValueError(f"remote binding {entry!r} must look like 'estop=B' or 'enable=R2+A'")
        if action not in REMOTE_ACTIONS:
            raise ValueError(f"remote binding {entry!r}: unknown action {action!r}; expected one of {list(REMOTE_ACTIONS)}")
        names = [b.strip() for b in combo.split("+")]
        unknown = [b for b in names if b not in _BUTTON_BIT]
        if unknown:
            raise ValueError(f"remote binding {entry!r}: unknown button(s) {unknown}; expected from {list(BUTTONS)}")
        bindings.append(RemoteBinding(action, frozenset(names)))
    for i, a in enumerate(bindings):
        for b in bindings[i + 1:]:
            if a.buttons == b.buttons and a.action != b.action:
                raise ValueError(f"remote bindings {a} and {b} use the same buttons for different actions")
    if ESTOP not in {b.action for b in bindings}:
        raise ValueError(f"remote bindings {[str(b) for b in bindings]} have no '{ESTOP}': a remote that can "
                         f"enable the robot must be able to stop it")
    return tuple(bindings)


@dataclass(frozen=True)
class RemoteEvents:
    fired: tuple[str, ...]  # actions whose combination became complete in this report (e-stop first)
    held: frozenset[str]  # actions whose combination is fully pressed now


class RemoteActionMapper:
    """Turns successive remote reports into actions (see module docstring). Counts undecodable reports."""

    def __init__(self, bindings: Sequence[str] | Sequence[RemoteBinding] = DEFAULT_REMOTE_BINDINGS) -> None:
        self.bindings = parse_bindings([str(b) for b in bindings])  # the set's rules: e-stop present, no clashes
        self._previous: frozenset[RemoteBinding] = frozenset()
        self.invalid_reports = 0
        self.last_error = ""

    def update(self, raw: bytes) -> RemoteEvents:
        try:
            state = decode_remote(raw)
        except ValueError as exc:
            self.invalid_reports += 1
            self.last_error = str(exc)
            self._previous = frozenset()  # a garbled report releases everything: the next valid press is an edge
            return RemoteEvents((), frozenset())
        return self.update_state(state)

    def update_state(self, state: RemoteState) -> RemoteEvents:
        down = frozenset(b for b in self.bindings if b.buttons <= state.buttons)
        new = down - self._previous
        self._previous = down
        held = frozenset(b.action for b in down)
        if ESTOP in held:
            fired = (ESTOP,) if any(b.action == ESTOP for b in new) else ()
        else:
            fired = tuple(dict.fromkeys(b.action for b in self.bindings if b in new))
        return RemoteEvents(fired, held)
