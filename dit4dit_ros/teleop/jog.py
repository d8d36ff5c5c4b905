"""End-effector jogging: move a palm by small Cartesian steps, get arm joint targets from IK.

Why Cartesian jogs and not joint jogs: an operator thinks "hand forward, down a bit", and six keys cover it.
The IK (MuJoCo site Jacobian, dit4dit_ros.g1.ik) runs on the same G1 model the simulator uses, with the
shoulder and elbow (4 joints) solving the palm position while the wrist keeps its angles, as the scripted
expert does. Positions are in the pelvis frame, so they mean the same on the welded sim robot and the real one.

Safety of the output (the executor filters again; this keeps the operator's target sane):
- the palm target stays inside an axis-aligned workspace box (pelvis frame) and moves at most `max_step`
  per jog;
- every joint target is inside the G1 position limits shrunk by `position_margin`;
- a jog whose IK does not reach the target within `ik_tolerance` (out of reach, or only reachable by
  crossing a limit), or that would move any joint by more than `max_joint_step` at once (an IK branch flip),
  is refused: the previous target is kept and the refusal says why.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES, LEFT_ARM, RIGHT_ARM, joint_indices, limits_array
from dit4dit_ros.g1.ik import solve_site_position
from dit4dit_ros.teleop.target import TeleopTarget
from dit4dit_ros.utils.param_fields import param_field

HANDS: tuple[str, ...] = ("right", "left")
HAND_SITES = {"right": "right_palm", "left": "left_palm"}
HAND_ARMS = {"right": RIGHT_ARM, "left": LEFT_ARM}
IK_JOINT_COUNT = 4  # shoulder pitch/roll/yaw + elbow solve the position; the wrist keeps its angles


def _vec3(name: str, value) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be 3 finite numbers (x, y, z), got {value!r}")
    return v


@dataclass(frozen=True)
class JogConfig:
    """Limits of the jogger (metres, radians; workspace in the pelvis frame: x forward, y left, z up)."""

    step: float = param_field(0.01, "palm displacement per key press [m]", minimum=0.001, maximum=0.05, name="jog_step")
    max_step: float = param_field(0.05, "largest palm displacement per jog [m]", minimum=0.001, maximum=0.1,
                                  name="jog_max_step")
    workspace_min: tuple[float, float, float] = param_field(  # z 0.02: just above the table top
        (0.05, -0.50, 0.02), "palm workspace lower corner, pelvis frame [m]", type="float_array", length=3,
        minimum=-1.5, maximum=1.5)
    workspace_max: tuple[float, float, float] = param_field(
        (0.55, 0.50, 0.45), "palm workspace upper corner, pelvis frame [m]", type="float_array", length=3,
        minimum=-1.5, maximum=1.5)
    position_margin: float = param_field(0.02, "distance kept from the joint limits [rad]", minimum=0.0, maximum=0.19)
    max_joint_step: float = param_field(0.25, "largest joint change per jog [rad]", minimum=0.01, maximum=1.0)
    ik_tolerance: float = 0.003  # m, palm error above which a jog is refused
    ik_iterations: int = 100

    def __post_init__(self) -> None:
        lo, hi = _vec3("workspace_min", self.workspace_min), _vec3("workspace_max", self.workspace_max)
        if np.any(lo >= hi):
            raise ValueError(f"workspace_min {lo.tolist()} must be below workspace_max {hi.tolist()} on every axis")
        object.__setattr__(self, "workspace_min", tuple(lo.tolist()))
        object.__setattr__(self, "workspace_max", tuple(hi.tolist()))
        if not 0 < self.step <= self.max_step:
            raise ValueError(f"need 0 < step <= max_step, got step {self.step}, max_step {self.max_step}")
        if not 0 <= self.position_margin < 0.2:
            raise ValueError(f"position_margin must be in [0, 0.2) rad, got {self.position_margin}")
        if self.max_joint_step <= 0 or self.ik_tolerance <= 0 or self.ik_iterations < 1:
            raise ValueError("max_joint_step > 0, ik_tolerance > 0 and ik_iterations >= 1 are required")


@dataclass(frozen=True)
class JogResult:
    """Outcome of one jog: accepted or not (with why), and where the palm target is now (pelvis frame)."""

    accepted: bool
    hand: str
    palm_target: np.ndarray
    palm_error: float  # m between the target and the palm of the joint targets
    reason: str = ""


class ArmJogger:
    """Palm targets of both hands and the ARMS joint targets that realise them."""

    def __init__(self, config: JogConfig | None = None, model=None, hand: str = "right") -> None:
        import mujoco

        from dit4dit_ros.g1.model import build_robot_model

        if hand not in HANDS:
            raise ValueError(f"hand must be one of {HANDS}, got {hand!r}")
        self.config = cfg = config or JogConfig()
        self._mj = mujoco
        self.model = build_robot_model() if model is None else model
        self._data = mujoco.MjData(self.model)
        self._qadr = {}
        for name in JOINT_NAMES:
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise ValueError(f"the G1 model has no joint {name!r}")
            self._qadr[name] = int(self.model.jnt_qposadr[jid])
        self._site = {}
        for h, site in HAND_SITES.items():
            sid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, site)
            if sid < 0:
                raise ValueError(f"the G1 model has no site {site!r}")
            self._site[h] = sid
        self._qpos = self.model.qpos0.copy()
        self._data.qpos[:] = self._qpos
        mujoco.mj_kinematics(self.model, self._data)
        pelvis = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
        # The pelvis is the kinematic root: its pose does not depend on any joint of the G1.
        self._pelvis_pos = self._data.xpos[pelvis].copy()
        self._pelvis_rot = self._data.xmat[pelvis].reshape(3, 3).copy()
        self._lo = limits_array("position_min") + cfg.position_margin
        self._hi = limits_array("position_max") - cfg.position_margin
        self._ws_lo, self._ws_hi = np.array(cfg.workspace_min), np.array(cfg.workspace_max)
        self.hand = hand
        self._targets: dict[str, np.ndarray] = {}
        self.synced = False
        self.sync(JOINT_NAMES, np.clip(self._q_of(JOINT_NAMES), self._lo, self._hi))
        self.synced = False  # the model's zero pose is not the robot's: wait for a real sync

    # -- frames and kinematics -------------------------------------------------------------------------
    def _q_of(self, names) -> np.ndarray:
        return np.array([self._qpos[self._qadr[n]] for n in names])

    def to_world(self, p_pelvis: np.ndarray) -> np.ndarray:
        return self._pelvis_pos + self._pelvis_rot @ np.asarray(p_pelvis, dtype=np.float64)

    def to_pelvis(self, p_world: np.ndarray) -> np.ndarray:
        return self._pelvis_rot.T @ (np.asarray(p_world, dtype=np.float64) - self._pelvis_pos)

    def palm(self, hand: str | None = None, qpos: np.ndarray | None = None) -> np.ndarray:
        """Palm position (pelvis frame) of `hand` for `qpos` (default: the current joint targets)."""
        d = self._data
        d.qpos[:] = self._qpos if qpos is None else qpos
        self._mj.mj_kinematics(self.model, d)
        return self.to_pelvis(d.site_xpos[self._site[hand or self.hand]])

    def palm_for(self, joint_names, positions, hand: str) -> np.ndarray:
        """Palm of `hand` (pelvis frame) for joint values given by name (others: the current targets)."""
        qpos = self._qpos.copy()
        for n, v in zip(joint_names, np.asarray(positions, dtype=np.float64)):
            qpos[self._qadr[n]] = v
        return self.palm(hand, qpos)

    # -- state --------------------------------------------------------------------------------------------
    def sync(self, joint_names, positions) -> None:
        """Take joint values (e.g. the measured /joint_states) as the current targets; palm targets follow.

        Joints outside the shrunk limits are clipped into them, so the first output is already valid.
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1)
        if positions.size != len(joint_names):
            raise ValueError(f"sync got {len(joint_names)} joint names but {positions.size} positions")
        idx = joint_indices(list(joint_names))
        for n, i, v in zip(joint_names, idx, positions):
            if not np.isfinite(v):
                raise ValueError(f"sync: joint {n} position is not finite ({v})")
            self._qpos[self._qadr[n]] = np.clip(v, self._lo[i], self._hi[i])
        for h in HANDS:
            self._targets[h] = self.palm(h)
        self.synced = True

    def switch_hand(self) -> str:
        self.hand = HANDS[(HANDS.index(self.hand) + 1) % len(HANDS)]
        return self.hand

    def palm_target(self, hand: str | None = None) -> np.ndarray:
        return self._targets[hand or self.hand].copy()

    def arm_positions(self) -> np.ndarray:
        """ARMS-order joint targets (always within the shrunk G1 limits)."""
        q = self._q_of(ARMS)
        idx = joint_indices(ARMS)
        return np.clip(q, self._lo[idx], self._hi[idx])

    def target(self) -> TeleopTarget:
        return TeleopTarget(ARMS, self.arm_positions())

    # -- jogging ------------------------------------------------------------------------------------------
    def jog(self, delta) -> JogResult:
        """Move the active palm target by `delta` (pelvis frame, m), clipped to the workspace and max_step."""
        cfg, hand = self.config, self.hand
        delta = _vec3("jog delta", delta)
        current = self._targets[hand]
        wanted = np.clip(current + delta, self._ws_lo, self._ws_hi)
        move = wanted - current
        dist = float(np.linalg.norm(move))
        if dist > cfg.max_step:
            wanted = current + move * (cfg.max_step / dist)
        if dist < 1e-9:
            return JogResult(False, hand, current.copy(), 0.0, "at the workspace boundary")
        arm = HAND_ARMS[hand]
        ik_names = arm[:IK_JOINT_COUNT]
        idx = joint_indices(ik_names)
        seed = self._q_of(ik_names)
        result = solve_site_position(self.model, HAND_SITES[hand], self.to_world(wanted), ik_names, qpos=self._qpos,
                                     seed=seed, iterations=cfg.ik_iterations, tolerance=cfg.ik_tolerance / 3)
        q_new = np.clip(result.q, self._lo[idx], self._hi[idx])
        trial = self._qpos.copy()
        for n, v in zip(ik_names, q_new):
            trial[self._qadr[n]] = v
        error = float(np.linalg.norm(self.palm(hand, trial) - wanted))
        if error > cfg.ik_tolerance:
            return JogResult(False, hand, current.copy(), error,
                             f"{hand} palm target {np.round(wanted, 3).tolist()} unreachable within the joint "
                             f"limits (IK error {error * 1000:.1f} mm)")
        jump = float(np.max(np.abs(q_new - seed)))
        if jump > cfg.max_joint_step:
            return JogResult(False, hand, current.copy(), error,
                             f"the jog would move a joint by {jump:.2f} rad (> max_joint_step {cfg.max_joint_step})")
        self._qpos = trial
        self._targets[hand] = wanted
        return JogResult(True, hand, wanted.copy(), error)
