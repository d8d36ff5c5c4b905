"""Keyboard teleoperation without a terminal: key decoding and the key -> action mapping.

Kept apart from the TTY reader (terminal.py) so that the mapping is testable with plain strings, and the
same controller can be fed by any key source (a terminal, a GUI, a test).

Default keys (palm jogs in the pelvis frame: x forward, y left, z up):
    w / s   +x / -x        a / d   +y / -y        q / e   +z / -z       arrow keys: x / y as w s a d
    h       switch hand    r       re-sync the targets to the measured joints
    c / o   close / open the jogged hand (gripper 1 / 0: the Dex3-1 synergy, the executor limits its speed)
    + / -   double / halve the step (between min_step and the jogger's max_step)
    space   E-STOP         Ctrl-C  quit
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping

import numpy as np

from dit4dit_ros.teleop.jog import ArmJogger, JogResult
from dit4dit_ros.teleop.target import TeleopTarget


class Action(str, Enum):
    JOG = "jog"
    SWITCH_HAND = "switch_hand"
    ESTOP = "estop"
    RESYNC = "resync"
    STEP_UP = "step_up"
    STEP_DOWN = "step_down"
    GRIP = "grip"
    QUIT = "quit"


@dataclass(frozen=True)
class KeyBinding:
    action: Action
    direction: tuple[float, float, float] = (0.0, 0.0, 0.0)  # unit jog direction (JOG only)
    gripper: float = 0.0  # gripper setpoint (GRIP only): 0 open .. 1 closed


def _jog(x: float, y: float, z: float) -> KeyBinding:
    return KeyBinding(Action.JOG, (x, y, z))


DEFAULT_KEYMAP: Mapping[str, KeyBinding] = MappingProxyType({
    "w": _jog(1, 0, 0), "s": _jog(-1, 0, 0),
    "a": _jog(0, 1, 0), "d": _jog(0, -1, 0),
    "q": _jog(0, 0, 1), "e": _jog(0, 0, -1),
    "up": _jog(1, 0, 0), "down": _jog(-1, 0, 0),
    "left": _jog(0, 1, 0), "right": _jog(0, -1, 0),
    "h": KeyBinding(Action.SWITCH_HAND),
    "r": KeyBinding(Action.RESYNC),
    "c": KeyBinding(Action.GRIP, gripper=1.0), "o": KeyBinding(Action.GRIP, gripper=0.0),
    "+": KeyBinding(Action.STEP_UP), "=": KeyBinding(Action.STEP_UP),
    "-": KeyBinding(Action.STEP_DOWN),
    " ": KeyBinding(Action.ESTOP),
    "\x03": KeyBinding(Action.QUIT),  # Ctrl-C, in case the terminal delivers it as a byte
    "\x04": KeyBinding(Action.QUIT),  # Ctrl-D
})

_ARROWS = {"A": "up", "B": "down", "C": "right", "D": "left"}


def decode_keys(data: bytes) -> list[str]:
    """Key names in a chunk of terminal input: characters, arrow keys as 'up'/'down'/'left'/'right'.

    Other escape sequences (function keys, ...) are dropped whole; invalid UTF-8 is replaced.
    """
    text = data.decode("utf-8", errors="replace")
    keys: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            if text[i + 1:i + 2] in ("[", "O") and i + 2 < len(text):
                j = i + 2
                while j < len(text) and not ("@" <= text[j] <= "~"):
                    j += 1  # parameter bytes of a CSI sequence
                final = text[j] if j < len(text) else ""
                if final in _ARROWS and j == i + 2:
                    keys.append(_ARROWS[final])
                i = j + 1
                continue
            i += 1  # a lone Escape
            continue
        keys.append(ch)
        i += 1
    return keys


@dataclass(frozen=True)
class KeyEvent:
    """What one key did: its action (None = unbound key), the jog result if it jogged, a line for the user."""

    key: str
    action: Action | None
    jog: JogResult | None = None
    message: str = ""


@dataclass
class KeyboardTeleop:
    """Applies keys to an ArmJogger. E-stop and quit are reported as events: the caller publishes/stops."""

    jogger: ArmJogger
    keymap: Mapping[str, KeyBinding] = field(default_factory=lambda: DEFAULT_KEYMAP)
    min_step: float = 0.0025  # m
    step: float = 0.0  # m per key press; 0 = the jogger's configured step
    grippers: dict[str, float] = field(default_factory=dict)  # hand -> setpoint, once a hand key was pressed

    def __post_init__(self) -> None:
        if self.step == 0.0:
            self.step = self.jogger.config.step
        if not 0 < self.min_step <= self.step <= self.jogger.config.max_step:
            raise ValueError(f"need 0 < min_step {self.min_step} <= step {self.step} <= max_step "
                             f"{self.jogger.config.max_step}")

    def handle(self, key: str, measured: tuple[tuple[str, ...], np.ndarray] | None = None) -> KeyEvent:
        """Apply one key. `measured` (names, positions) is needed by RESYNC (the latest /joint_states)."""
        binding = self.keymap.get(key)
        if binding is None:
            return KeyEvent(key, None, message=f"unbound key {key!r}")
        act = binding.action
        if act is Action.JOG:
            result = self.jogger.jog(np.asarray(binding.direction, dtype=np.float64) * self.step)
            where = np.round(result.palm_target, 3).tolist()
            text = f"{result.hand} palm -> {where}" if result.accepted else f"jog refused: {result.reason}"
            return KeyEvent(key, act, result, text)
        if act is Action.SWITCH_HAND:
            return KeyEvent(key, act, message=f"jogging the {self.jogger.switch_hand()} hand")
        if act is Action.RESYNC:
            if measured is None:
                return KeyEvent(key, act, message="no measured joint state yet: nothing to re-sync to")
            self.jogger.sync(*measured)
            return KeyEvent(key, act, message="targets re-synced to the measured joints")
        if act is Action.STEP_UP:
            self.step = min(self.step * 2.0, self.jogger.config.max_step)
            return KeyEvent(key, act, message=f"step {self.step * 1000:.1f} mm")
        if act is Action.STEP_DOWN:
            self.step = max(self.step / 2.0, self.min_step)
            return KeyEvent(key, act, message=f"step {self.step * 1000:.1f} mm")
        if act is Action.GRIP:
            hand = self.jogger.hand
            self.grippers[hand] = binding.gripper
            return KeyEvent(key, act, message=f"{hand} hand {'closing' if binding.gripper else 'opening'} "
                                              f"(gripper {binding.gripper:.1f})")
        if act is Action.ESTOP:
            return KeyEvent(key, act, message="E-STOP")
        return KeyEvent(key, act, message="quit")


def keyboard_target(teleop: KeyboardTeleop) -> TeleopTarget:
    """The arms' joint targets plus the gripper setpoint of each hand a hand key was pressed for."""
    arms = teleop.jogger.target()
    hands = sorted(teleop.grippers)
    return TeleopTarget(arms.joint_names + tuple(f"{h}_gripper" for h in hands),
                        np.concatenate([arms.positions, [teleop.grippers[h] for h in hands]]))


def key_help(keymap: Mapping[str, KeyBinding] = DEFAULT_KEYMAP) -> str:
    """One line per bound key, for the terminal."""
    names = {" ": "space", "\x03": "Ctrl-C", "\x04": "Ctrl-D"}
    lines = []
    for key, b in keymap.items():
        what = {Action.JOG: f"jog {b.direction}", Action.GRIP: f"gripper {b.gripper:.0f} (jogged hand)"}.get(
            b.action, b.action.value)
        lines.append(f"  {names.get(key, key):7s} {what}")
    return "\n".join(lines)
