"""Which received LowState samples may be trusted, and why the others were dropped (ROS-free).

One gate for every LowState consumer (g1_state today, the executor next), so that they agree on what is a
valid robot state and say the same thing when they drop one:
- CRC policy: `verify` (the crc word must match: the real robot), `accept_zero` (a crc word of 0 is also
  accepted: Unitree's own simulators publish 0 because they never compute it; a non-zero wrong crc is still
  corruption), `off` (no check at all; only for tools that read recorded or foreign streams).
- Robot variant: the reported `mode_machine` must be one of the variant the deployment drives
  (g1/variants.py), else every sample is refused: a 23-DoF robot's joint 20 is not a wrist pitch.
Every drop is counted by reason, and `explain()` turns the counts into the sentence an operator needs
(before this, Unitree's simulator's crc 0 made g1_state drop everything while it said "waiting").
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Protocol

from dit4dit_ros.g1.variants import ANY_MODE_MACHINE, RobotVariantError, check_robot_variant, supported_variant


class CrcPolicy(str, Enum):
    VERIFY = "verify"
    ACCEPT_ZERO = "accept_zero"
    OFF = "off"


CRC_POLICIES: tuple[str, ...] = tuple(p.value for p in CrcPolicy)


class DropReason(str, Enum):
    CRC_MISMATCH = "crc_mismatch"
    CRC_ZERO = "crc_zero"
    VARIANT = "variant"


class _Sample(Protocol):
    crc_ok: bool
    crc: int
    mode_machine: int


@dataclass
class GateCounts:
    """What the gate has seen since it was made."""

    received: int = 0
    accepted: int = 0
    accepted_crc_zero: int = 0  # accepted under accept_zero with crc 0 (not verified)
    accepted_unchecked: int = 0  # accepted under crc policy off with a wrong crc
    crc_mismatch: int = 0
    crc_zero: int = 0
    variant: int = 0

    @property
    def dropped(self) -> int:
        return self.crc_mismatch + self.crc_zero + self.variant

    def as_dict(self) -> dict[str, int]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["dropped"] = self.dropped
        return out


class LowStateGate:
    """Accepts or drops LowState samples by CRC policy and robot variant; counts and explains the drops.

    Not thread-safe: call it under the caller's lock (the DDS listener thread and a diagnostics timer share it).
    """

    def __init__(self, crc_policy: CrcPolicy | str = CrcPolicy.VERIFY, variant: str = "g1_29dof",
                 expected_mode_machine: int = ANY_MODE_MACHINE) -> None:
        try:
            self.crc_policy = CrcPolicy(crc_policy)
        except ValueError:
            raise ValueError(f"LowState CRC policy must be one of {list(CRC_POLICIES)}, got {crc_policy!r}") from None
        supported_variant(variant)  # an unknown or unsupported name is a configuration error, raised now
        self.variant = variant
        self.expected_mode_machine = int(expected_mode_machine)
        self.counts = GateCounts()
        self.variant_error: str | None = None  # the last refusal of the reported mode_machine
        self.last_mode_machine: int | None = None  # of the last sample that passed the CRC policy
        self._mode_machine_ok: dict[int, str | None] = {}

    def check(self, sample: _Sample) -> DropReason | None:
        """None if `sample` may be used, else the reason it was dropped (counted)."""
        c = self.counts
        c.received += 1
        unverified = not sample.crc_ok
        if unverified and self.crc_policy is not CrcPolicy.OFF:
            if sample.crc == 0 and self.crc_policy is CrcPolicy.VERIFY:
                c.crc_zero += 1
                return DropReason.CRC_ZERO
            if sample.crc != 0:
                c.crc_mismatch += 1
                return DropReason.CRC_MISMATCH
        self.last_mode_machine = int(sample.mode_machine)  # only from a sample whose bytes are trusted
        error = self._variant_error(int(sample.mode_machine))
        if error is not None:
            self.variant_error = error
            c.variant += 1
            return DropReason.VARIANT
        c.accepted += 1
        if unverified and self.crc_policy is CrcPolicy.ACCEPT_ZERO:
            c.accepted_crc_zero += 1
        elif unverified:
            c.accepted_unchecked += 1
        return None

    def _variant_error(self, mode_machine: int) -> str | None:
        if mode_machine not in self._mode_machine_ok:
            try:
                check_robot_variant(mode_machine, self.variant, self.expected_mode_machine)
                self._mode_machine_ok[mode_machine] = None
            except RobotVariantError as exc:
                self._mode_machine_ok[mode_machine] = str(exc)
        return self._mode_machine_ok[mode_machine]

    def explain(self) -> str:
        """Why samples were dropped, with counts; '' when none was."""
        c = self.counts
        if not c.dropped:
            return ""
        parts = []
        if c.crc_zero:
            parts.append(f"{c.crc_zero} with crc 0 (not computed: Unitree's own simulators publish that; "
                         f"lowstate_crc_policy accept_zero accepts it, never use that on a robot)")
        if c.crc_mismatch:
            parts.append(f"{c.crc_mismatch} with a wrong CRC (corrupted)")
        if c.variant:
            parts.append(f"{c.variant} from a robot this deployment must not drive: {self.variant_error}")
        whole = "all" if c.accepted == 0 else f"{c.dropped} of"
        return f"{whole} {c.received} LowState dropped (CRC policy {self.crc_policy.value}): " + "; ".join(parts)
