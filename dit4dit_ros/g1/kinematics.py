"""Where the hands will go: forward kinematics of joint-space chunks on the G1 model.

The monitor draws each predicted chunk as the paths of both palms in RViz, which is how an operator sees at
a glance whether the policy is heading for the object or for the table. MuJoCo's kinematics on the same
MJCF the simulator uses gives the palm sites for any joint vector (no physics step, ~10 us per pose).
Positions are expressed in the pelvis frame so that they are valid on the real robot too.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.g1.model import PALM_SITES, PELVIS_BODY


class HandKinematics:
    def __init__(self, sites: Sequence[str] = PALM_SITES) -> None:
        import mujoco

        from dit4dit_ros.g1.model import build_robot_model

        self._mj = mujoco
        self.model = build_robot_model()  # the G1 with its palm sites
        self.data = mujoco.MjData(self.model)
        self.sites = tuple(sites)
        self.site_ids = []
        for s in self.sites:
            sid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, s)
            if sid < 0:
                raise ValueError(f"site {s!r} is not in the G1 model")
            self.site_ids.append(sid)
        self.qpos_adr = {}
        for name in JOINT_NAMES:
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            self.qpos_adr[name] = int(self.model.jnt_qposadr[jid])
        self.pelvis_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY)
        self.base_q = self.data.qpos.copy()

    def site_paths(self, joint_names: Sequence[str], positions: np.ndarray,
                   base: dict[str, float] | None = None) -> np.ndarray:
        """(len(sites), H, 3) palm positions in the pelvis frame for each row of `positions` (H, J).

        Joints not in `joint_names` take their value from `base` (e.g. the measured state) or zero.
        """
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != len(joint_names):
            raise ValueError(f"positions must be (H, {len(joint_names)}), got {positions.shape}")
        unknown = [n for n in joint_names if n not in self.qpos_adr]
        if unknown:
            raise ValueError(f"unknown joint names {unknown}")
        q = self.base_q.copy()
        for name, value in (base or {}).items():
            if name in self.qpos_adr:
                q[self.qpos_adr[name]] = value
        cols = [self.qpos_adr[n] for n in joint_names]
        out = np.empty((len(self.sites), len(positions), 3))
        for k, row in enumerate(positions):
            q[cols] = row
            self.data.qpos[:] = q
            self._mj.mj_kinematics(self.model, self.data)
            rot = self.data.xmat[self.pelvis_id].reshape(3, 3)
            origin = self.data.xpos[self.pelvis_id]
            for i, sid in enumerate(self.site_ids):
                out[i, k] = rot.T @ (self.data.site_xpos[sid] - origin)
        return out
