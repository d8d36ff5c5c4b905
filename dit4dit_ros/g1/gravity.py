"""Gravity torques of the G1's 29 motors for a measured joint configuration (MuJoCo, no ROS).

Why: on rt/arm_sdk and rt/lowcmd the G1's motors run a plain PD law, kp (q_des - q) + kd (dq_des - dq) + tau_ff.
Without a feed-forward torque every joint that carries weight settles where the PD spring balances gravity:
the waist (kp 40) pitches the torso and the head camera ~0.2 rad forward when an arm reaches out. Sending the
gravity torque as tau_ff makes the commanded pose the equilibrium.

The torque is MuJoCo's bias force at zero velocity, qfrc_bias = g(q), on the fixed-base G1 of the simulator
(pelvis welded upright, `dit4dit_ros.g1.model.build_robot_model`). It is computed with the three stages that make up
qfrc_bias (kinematics, com positions, recursive Newton-Euler without acceleration) instead of a full mj_forward:
the same numbers (tests compare them) at ~9 us instead of ~120 us, because mj_forward also runs collision
detection on the meshes, constraints and actuators, none of which enter g(q).

Assumptions: the pelvis is upright (a standing robot: the balance controller keeps it so; a robot on a stand);
legs are treated as hanging from the pelvis. The real robot's masses may differ from the model's: scale the
result with the executor's `gravity_compensation_scale`.
"""
from __future__ import annotations

import numpy as np

from dit4dit_ros.g1.joints import JOINT_NAMES, NUM_JOINTS


class GravityModel:
    """g(q) for the 29 motors, in SDK motor order. Holds one MjData: not thread-safe (the executor's tick
    calls it under the node's lock)."""

    def __init__(self, model=None, joint_names: tuple[str, ...] = JOINT_NAMES) -> None:
        """`model`: a compiled mujoco.MjModel with a hinge joint per G1 joint name (default: the fixed-base G1
        of g1/model.py). Other joints of the model (objects, a free base) are held at their qpos0."""
        import mujoco

        if model is None:
            from dit4dit_ros.g1.model import build_robot_model

            model = build_robot_model()
        if len(joint_names) != NUM_JOINTS:
            raise ValueError(f"GravityModel needs the {NUM_JOINTS} G1 joint names in motor order, got {len(joint_names)}")
        self._mj = mujoco
        self.model = model
        self.data = mujoco.MjData(model)
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in joint_names]
        missing = [name for name, i in zip(joint_names, ids) if i < 0]
        if missing:
            raise ValueError(
                f"the MuJoCo model has no joint named {missing}: GravityModel needs every G1 joint of "
                "dit4dit_ros.g1.joints (the G1 29-DoF model of dit4dit_ros.g1.model)")
        ids_arr = np.array(ids)
        hinge = int(mujoco.mjtJoint.mjJNT_HINGE)
        not_hinge = [name for name, i in zip(joint_names, ids) if model.jnt_type[i] != hinge]
        if not_hinge:
            raise ValueError(f"G1 joints {not_hinge} are not hinge joints in the MuJoCo model")
        self.joint_names = tuple(joint_names)
        self._qadr = model.jnt_qposadr[ids_arr].copy()
        self._dadr = model.jnt_dofadr[ids_arr].copy()
        self._bias = np.zeros(model.nv)
        self.data.qvel[:] = 0.0

    def torques(self, q: np.ndarray) -> np.ndarray:
        """Gravity torque (N*m, (29,)) each motor must apply to hold configuration `q` (29,) at rest."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (NUM_JOINTS,):
            raise ValueError(f"joint positions must have shape ({NUM_JOINTS},) in motor order, got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"joint positions must be finite, got {q}")
        mj, m, d = self._mj, self.model, self.data
        d.qpos[self._qadr] = q
        mj.mj_kinematics(m, d)
        mj.mj_comPos(m, d)
        mj.mj_rne(m, d, 0, self._bias)  # flg_acc=0 with qvel=0: qfrc_bias = g(q)
        return self._bias[self._dadr].copy()

    __call__ = torques


__all__ = ["GravityModel"]
