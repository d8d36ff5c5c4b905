"""G1 robot variants: which motor slots carry a motor, and the `mode_machine` values that announce each.

Why: every LowState carries `mode_machine`, the robot type. A 23-DoF or a waist-locked G1 has no motor in
some of the slots the 29-DoF uses, so a 29-DoF policy, joint table or safety filter on those robots would
command slots that do not exist (and publish joint states for joints that are not there). The stack checks
the reported value against the variant the deployment drives before it trusts the state stream.

Facts (Unitree, see docs/unitree_interop.md for the sources):
- Motor slots are fixed by joint, for every variant: 0-5 left leg, 6-11 right leg, 12 waist yaw, 13 waist roll,
  14 waist pitch, 15-21 left arm, 22-28 right arm. A variant without a joint leaves its slot unused
  (unitree_sdk2's G1 low-level example marks 13/14 "INVALID for g1 23dof/29dof with waist locked" and 20, 21,
  27, 28 "INVALID for g1 23dof"); nothing is renumbered on the robot.
- `mode_machine` per model (unitree_ros g1_description): 29-DoF 5 (rev 1.0), 11, 13, 15 (newer gear/wrist
  motors), 2 (deprecated); 29-DoF with locked waist 6, 12, 14, 16, 3 (deprecated); 23-DoF 4 (rev 1.0), 10,
  1 (deprecated); dual-arm G1 (no legs) 9. The value is shown in Unitree's app under Device > Data > Robot >
  Machine Type.
- Unitree's own simulators publish `mode_machine` 0 (they never set it): 0 identifies no variant.

Only the 29-DoF G1 is supported by this stack (joint table g1/joints.py); the others are refused with the
reason. Their tables are kept so that the refusal can say exactly which joints are missing.
"""
from __future__ import annotations

from dataclasses import dataclass

from dit4dit_ros.g1.joints import JOINT_NAMES, NUM_JOINTS

UNSET_MODE_MACHINE = 0  # what Unitree's simulators report
ANY_MODE_MACHINE = -1  # "any value of the expected variant" in configurations


class RobotVariantError(ValueError):
    """The robot reported a `mode_machine` this deployment must not drive."""


@dataclass(frozen=True)
class G1Variant:
    """One G1 model: its name, the mode_machine values it reports, the motor slots that carry a motor."""

    name: str
    description: str
    mode_machines: tuple[int, ...]
    motor_slots: tuple[int, ...]
    supported: bool

    def __post_init__(self) -> None:
        if not self.motor_slots or not all(0 <= s < NUM_JOINTS for s in self.motor_slots):
            raise ValueError(f"variant {self.name}: motor slots must lie in 0..{NUM_JOINTS - 1}")
        if UNSET_MODE_MACHINE in self.mode_machines:
            raise ValueError(f"variant {self.name}: mode_machine 0 means 'not set' and identifies no variant")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(JOINT_NAMES[s] for s in self.motor_slots)

    @property
    def missing_joints(self) -> tuple[str, ...]:
        """Joints of the 29-DoF table that this variant has no motor for."""
        present = set(self.motor_slots)
        return tuple(name for slot, name in enumerate(JOINT_NAMES) if slot not in present)


_ALL = tuple(range(NUM_JOINTS))
_WAIST_ROLL_PITCH = (13, 14)
_WRIST_PITCH_YAW = (20, 21, 27, 28)
_LEGS = tuple(range(12))

VARIANTS: tuple[G1Variant, ...] = (
    G1Variant("g1_29dof", "G1 29-DoF (6+6 legs, 3 waist, 7+7 arms)", (5, 11, 13, 15, 2), _ALL, supported=True),
    G1Variant("g1_29dof_lock_waist", "G1 29-DoF with locked waist (27 motors: no waist roll/pitch)",
              (6, 12, 14, 16, 3), tuple(s for s in _ALL if s not in _WAIST_ROLL_PITCH), supported=False),
    G1Variant("g1_23dof", "G1 23-DoF (1 waist joint, 5+5 arms: no waist roll/pitch, no wrist pitch/yaw)",
              (4, 10, 1), tuple(s for s in _ALL if s not in _WAIST_ROLL_PITCH + _WRIST_PITCH_YAW), supported=False),
    G1Variant("g1_dual_arm", "G1 dual-arm (no legs)", (9,),
              tuple(s for s in _ALL if s not in _LEGS + (13,)), supported=False),
)
VARIANT_BY_NAME = {v.name: v for v in VARIANTS}
VARIANT_NAMES: tuple[str, ...] = tuple(VARIANT_BY_NAME)
SUPPORTED_VARIANTS: tuple[str, ...] = tuple(v.name for v in VARIANTS if v.supported)


def variant_for_mode_machine(mode_machine: int) -> G1Variant | None:
    """The variant that reports `mode_machine`, or None (0 = unset, or a value not in the table)."""
    for variant in VARIANTS:
        if mode_machine in variant.mode_machines:
            return variant
    return None


def _known_values() -> str:
    return "; ".join(f"{v.name}: {list(v.mode_machines)}" for v in VARIANTS)


def supported_variant(name: str) -> G1Variant:
    """The variant called `name` if this stack can drive it, else ValueError saying why not."""
    try:
        variant = VARIANT_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown robot variant {name!r}; expected one of {list(VARIANT_NAMES)}") from None
    if not variant.supported:
        raise ValueError(f"robot variant {name!r} is not supported by this stack (supported: "
                         f"{list(SUPPORTED_VARIANTS)}): it has no motor for {list(variant.missing_joints)}")
    return variant


def check_robot_variant(mode_machine: int, expected: str = "g1_29dof",
                        expected_mode_machine: int = ANY_MODE_MACHINE) -> G1Variant:
    """The expected variant if a robot reporting `mode_machine` may be driven as it, else RobotVariantError.

    `expected`: the variant the deployment drives (a name in VARIANT_NAMES, and supported).
    `expected_mode_machine`: ANY_MODE_MACHINE (-1) accepts any value of that variant's table; any other value
    must match exactly. Use 0 only for Unitree's own simulators, which leave mode_machine unset: the variant
    cannot be verified then, so it has to be said explicitly.
    """
    variant = supported_variant(expected)
    if expected_mode_machine != ANY_MODE_MACHINE:
        if mode_machine != expected_mode_machine:
            raise RobotVariantError(
                f"robot reports mode_machine {mode_machine}, configured expected_mode_machine is "
                f"{expected_mode_machine}" + _explain(mode_machine))
        return variant
    if mode_machine in variant.mode_machines:
        return variant
    raise RobotVariantError(
        f"robot reports mode_machine {mode_machine}, not a {variant.name} value {list(variant.mode_machines)}"
        + _explain(mode_machine))


def _explain(mode_machine: int) -> str:
    other = variant_for_mode_machine(mode_machine)
    if other is not None:
        return (f": that is a {other.description} (mode_machine {list(other.mode_machines)}), which has no motor "
                f"for {list(other.missing_joints)}; driving it with the 29-DoF joint table would command slots "
                f"that do not exist. Refused.")
    if mode_machine == UNSET_MODE_MACHINE:
        return (": 0 means the publisher did not set it (Unitree's own simulators do that). If this is such a "
                "simulator, set expected_mode_machine: 0 explicitly.")
    return f": an unknown robot type (known values: {_known_values()}). Refused."
