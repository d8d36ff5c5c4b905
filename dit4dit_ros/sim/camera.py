"""The G1 ego camera (head D435 mount) rendered offscreen.

An OpenGL context belongs to the thread that made it current: create an EgoCamera in the thread that will
render with it. Rendering is CPU work (EGL + Mesa llvmpipe here): ~45 ms per 224x224 frame without shadows and
reflections, ~150 ms with them, on this machine; hence the lock-step mode (sim/loop.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dit4dit_ros.g1.model import HEAD_CAMERA
from dit4dit_ros.sim.scene import camera_intrinsics


@dataclass(frozen=True)
class CameraConfig:
    width: int = 224
    height: int = 224
    rate_hz: float = 10.0  # frames per second of simulation time
    # Shadows and the floor's reflection each need an extra render pass: on llvmpipe they triple the frame time
    # (224x224: ~150 ms with both, ~45 ms without), so they are off unless asked for.
    shadows: bool = False
    reflections: bool = False

    def __post_init__(self) -> None:
        if not (16 <= self.width <= 1920 and 16 <= self.height <= 1080):
            raise ValueError(f"camera size must be within 16x16..1920x1080, got {self.width}x{self.height}")
        if not 0 < self.rate_hz <= 60:
            raise ValueError(f"camera rate_hz must be in (0, 60], got {self.rate_hz}")


class EgoCamera:
    """Renders `head_camera` of a model to uint8 RGB (H, W, 3)."""

    def __init__(self, model: Any, config: CameraConfig | None = None) -> None:
        import mujoco

        self.config = config or CameraConfig()
        self._mj = mujoco
        self._model = model
        self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, HEAD_CAMERA)
        if self._camera_id < 0:
            raise ValueError(f"the model has no camera named {HEAD_CAMERA!r} (dit4dit_ros.g1.model builds it)")
        # The offscreen framebuffer must be at least as large as the image.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.config.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.config.height)
        self._renderer = mujoco.Renderer(model, height=self.config.height, width=self.config.width)
        self.fovy_deg = float(model.cam_fovy[self._camera_id])

    def render(self, data: Any) -> np.ndarray:
        """An RGB image of `data` (its kinematics must be current: after mj_step or mj_forward)."""
        self._renderer.update_scene(data, camera=self._camera_id)
        flags = self._renderer.scene.flags
        flags[self._mj.mjtRndFlag.mjRND_SHADOW] = int(self.config.shadows)
        flags[self._mj.mjtRndFlag.mjRND_REFLECTION] = int(self.config.reflections)
        return self._renderer.render().copy()

    def intrinsics(self) -> np.ndarray:
        return camera_intrinsics(self.config.width, self.config.height, self.fovy_deg)

    def close(self) -> None:
        self._renderer.close()
