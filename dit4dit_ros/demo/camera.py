"""The ego camera for demo data and direct evaluation, with optional cheap rendering.

Same camera (the scene's `head_camera`) as sim/camera.py's EgoCamera, but with shadows, reflections and the
skybox switchable off: on this machine's software OpenGL (Mesa llvmpipe) a 64x64 frame then costs ~35 ms
instead of ~160 ms, which decides how many demonstrations fit in an afternoon. Images differ slightly
(no hand shadow on the table); data and direct evaluation use the same setting.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dit4dit_ros.g1.model import HEAD_CAMERA


class DemoCamera:
    def __init__(self, model: Any, image_size: tuple[int, int], fast: bool = True) -> None:
        import mujoco

        height, width = image_size
        self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, HEAD_CAMERA)
        if self._camera_id < 0:
            raise ValueError(f"the model has no camera named {HEAD_CAMERA!r} (dit4dit_ros.g1.model builds it)")
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        if fast:
            flags = self._renderer.scene.flags
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                         mujoco.mjtRndFlag.mjRND_SKYBOX):
                flags[flag] = 0

    def render(self, data: Any) -> np.ndarray:
        """(H, W, 3) uint8 RGB of `data` (kinematics must be current)."""
        self._renderer.update_scene(data, camera=self._camera_id)
        return self._renderer.render().copy()

    def close(self) -> None:
        self._renderer.close()
