"""Position inverse kinematics for a site (damped least squares), for tests and scripted experts.

Why here and not a library: a 3-D position target for a 7-joint arm needs ~20 lines with MuJoCo's own site
Jacobian; an IK dependency would add more weight than it removes. Joint limits are respected by clipping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

RIGHT_ARM_IK_SEED = np.array([-0.5, -0.2, 0.0, 0.5, 0.0, 0.0, 0.0])  # shoulder forward, elbow bent: reaches the table
LEFT_ARM_IK_SEED = np.array([-0.5, 0.2, 0.0, 0.5, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class IkResult:
    q: np.ndarray  # solution for the given joints, in their order
    error: float  # remaining position error (m)
    iterations: int

    @property
    def converged(self) -> bool:
        return self.error < 2e-3


def solve_site_position(
    model,
    site: str,
    target: np.ndarray,
    joint_names: Sequence[str],
    qpos: np.ndarray | None = None,
    seed: np.ndarray | None = None,
    iterations: int = 300,
    damping: float = 1e-3,
    tolerance: float = 1e-3,
) -> IkResult:
    """Joint positions of `joint_names` that put `site` at `target` (world frame).

    `qpos` is the configuration of every other joint (defaults to model.qpos0); `seed` the start for the
    solved joints (defaults to their values in `qpos`). Works on a private MjData, never on the caller's.
    """
    import mujoco

    target = np.asarray(target, dtype=np.float64)
    if target.shape != (3,) or not np.all(np.isfinite(target)):
        raise ValueError(f"IK target must be a finite (3,) position, got {target!r}")
    site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
    if site_id < 0:
        raise ValueError(f"unknown site {site!r}")
    joint_ids = []
    for name in joint_names:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if jid < 0:
            raise ValueError(f"unknown joint {name!r}")
        joint_ids.append(jid)
    qadr = model.jnt_qposadr[joint_ids]
    dadr = model.jnt_dofadr[joint_ids]
    lo, hi = model.jnt_range[joint_ids, 0], model.jnt_range[joint_ids, 1]
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0 if qpos is None else qpos
    if seed is not None:
        data.qpos[qadr] = seed
    jacp = np.zeros((3, model.nv))
    err = np.zeros(3)
    it = 0
    for it in range(1, iterations + 1):
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        err = target - data.site_xpos[site_id]
        if np.linalg.norm(err) < tolerance:
            break
        mujoco.mj_jacSite(model, data, jacp, None, site_id)
        jac = jacp[:, dadr]
        step = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(3), err)
        data.qpos[qadr] = np.clip(data.qpos[qadr] + step, lo, hi)
    mujoco.mj_kinematics(model, data)
    final = float(np.linalg.norm(target - data.site_xpos[site_id]))
    return IkResult(q=data.qpos[qadr].copy(), error=final, iterations=it)


def solve_site_pose(
    model,
    site: str,
    target: np.ndarray,
    target_rot: np.ndarray,
    joint_names: Sequence[str],
    qpos: np.ndarray | None = None,
    seed: np.ndarray | None = None,
    iterations: int = 400,
    damping: float = 1e-3,
    rotation_weight: float = 0.2,
    tolerance: float = 1e-3,
    bounds: dict[str, tuple[float, float]] | None = None,
    rotation_tolerance: float = 0.05,
) -> IkResult:
    """Joint positions of `joint_names` that put `site` at `target` with the site frame's rotation `target_rot`.

    Damped least squares on the 6-D error (position in m, rotation vector in rad scaled by `rotation_weight` m/rad:
    a grasp needs the hand's orientation only to a few degrees). `error` is the position error; the result counts as
    converged only when the rotation error is also below `rotation_tolerance` rad (else the error reads inf).
    `bounds` narrows some joints' ranges (e.g. to keep an arm off the torso, which the model's limits allow).
    """
    import mujoco

    target = np.asarray(target, dtype=np.float64)
    target_rot = np.asarray(target_rot, dtype=np.float64)
    if target.shape != (3,) or not np.all(np.isfinite(target)) or target_rot.shape != (3, 3):
        raise ValueError(f"IK pose target must be a finite (3,) position and a (3, 3) rotation, got {target!r}")
    site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
    if site_id < 0:
        raise ValueError(f"unknown site {site!r}")
    joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joint_names]
    if min(joint_ids) < 0:
        raise ValueError(f"unknown joint among {list(joint_names)}")
    qadr, dadr = model.jnt_qposadr[joint_ids], model.jnt_dofadr[joint_ids]
    lo, hi = model.jnt_range[joint_ids, 0].copy(), model.jnt_range[joint_ids, 1].copy()
    for name, (low, high) in (bounds or {}).items():
        i = list(joint_names).index(name)
        lo[i], hi[i] = max(lo[i], low), min(hi[i], high)
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0 if qpos is None else qpos
    if seed is not None:
        data.qpos[qadr] = np.clip(seed, lo, hi)
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    target_quat, site_quat, err_rot = np.zeros(4), np.zeros(4), np.zeros(3)
    mujoco.mju_mat2Quat(target_quat, target_rot.ravel())

    def errors() -> tuple[np.ndarray, np.ndarray]:
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mju_mat2Quat(site_quat, data.site_xmat[site_id])
        mujoco.mju_subQuat(err_rot, target_quat, site_quat)  # site -> target rotation vector, in the site frame
        return target - data.site_xpos[site_id], data.site_xmat[site_id].reshape(3, 3) @ err_rot

    it = 0
    for it in range(1, iterations + 1):
        err_p, err_r = errors()
        if np.linalg.norm(err_p) < tolerance and np.linalg.norm(err_r) < 0.01:
            break
        mujoco.mj_jacSite(model, data, jacp, jacr, site_id)
        jac = np.vstack([jacp[:, dadr], rotation_weight * jacr[:, dadr]])
        err = np.concatenate([err_p, rotation_weight * err_r])
        step = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), err)
        data.qpos[qadr] = np.clip(data.qpos[qadr] + step, lo, hi)
    err_p, err_r = errors()
    error = float(np.linalg.norm(err_p)) if np.linalg.norm(err_r) < rotation_tolerance else float("inf")
    return IkResult(q=data.qpos[qadr].copy(), error=error, iterations=it)
