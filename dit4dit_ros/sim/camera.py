"""The simulator's offscreen cameras: the G1 ego camera (head D435 mount) and a third-person scene view.

One class renders both, so that demonstrations, direct evaluation and the ROS graph render the ego image the
same way: `CameraConfig` says what is drawn (shadows, floor reflections, skybox). On this machine's software
OpenGL (EGL + Mesa llvmpipe) a 224x224 ego frame costs ~45 ms without shadows and reflections and ~150 ms with
them; without the skybox too, a 64x64 frame costs ~35 ms instead of ~160 ms, which decides how many
demonstrations fit in an afternoon. The skybox is behind the table from the head camera, so the ego image is
identical with or without it (tests/sim/test_sim_robot.py checks that).

An OpenGL context belongs to the thread that made it current: create a camera in the thread that renders with it.
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
    skybox: bool = True

    def __post_init__(self) -> None:
        if not (16 <= self.width <= 1920 and 16 <= self.height <= 1080):
            raise ValueError(f"camera size must be within 16x16..1920x1080, got {self.width}x{self.height}")
        if not 0 < self.rate_hz <= 60:
            raise ValueError(f"camera rate_hz must be in (0, 60], got {self.rate_hz}")

    @classmethod
    def fast(cls, height: int, width: int) -> "CameraConfig":
        """The cheapest rendering (no shadows, reflections or skybox): demonstrations and direct evaluation."""
        return cls(width=width, height=height, shadows=False, reflections=False, skybox=False)


@dataclass(frozen=True)
class ViewPoint:
    """A free (third-person) camera: looks at `lookat` (world, m) from `distance` m, angles in degrees."""

    lookat: tuple[float, float, float] = (0.22, -0.08, 0.88)  # between the robot's chest and the cube region
    distance: float = 1.45
    azimuth: float = 145.0  # from the robot's front right (+x forward, +y left), so the right arm and the cube show
    elevation: float = -28.0
    fovy_deg: float = 45.0


class SimCamera:
    """Renders one view of a model to uint8 RGB (H, W, 3): a named model camera, or a free ViewPoint."""

    def __init__(self, model: Any, config: CameraConfig | None = None, camera: str | ViewPoint = HEAD_CAMERA) -> None:
        import mujoco

        self.config = config or CameraConfig()
        self._mj = mujoco
        self._model = model
        if isinstance(camera, ViewPoint):
            self._camera = mujoco.MjvCamera()
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
            self._camera.lookat[:] = camera.lookat
            self._camera.distance, self._camera.azimuth, self._camera.elevation = (camera.distance, camera.azimuth,
                                                                                    camera.elevation)
            # Free cameras take the model's global field of view (model cameras, the ego one included, have their own).
            model.vis.global_.fovy = camera.fovy_deg
            self.fovy_deg = camera.fovy_deg
        else:
            self._camera = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if self._camera < 0:
                raise ValueError(f"the model has no camera named {camera!r} (dit4dit_ros.g1.model builds {HEAD_CAMERA})")
            self.fovy_deg = float(model.cam_fovy[self._camera])
        # The offscreen framebuffer must be at least as large as the image.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.config.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.config.height)
        self._renderer = mujoco.Renderer(model, height=self.config.height, width=self.config.width)

    def render(self, data: Any) -> np.ndarray:
        """An RGB image of `data` (its kinematics must be current: after mj_step or mj_forward)."""
        renderer = self._renderer
        renderer.update_scene(data, camera=self._camera)
        flags = renderer.scene.flags
        flags[self._mj.mjtRndFlag.mjRND_SHADOW] = int(self.config.shadows)
        flags[self._mj.mjtRndFlag.mjRND_REFLECTION] = int(self.config.reflections)
        flags[self._mj.mjtRndFlag.mjRND_SKYBOX] = int(self.config.skybox)
        return renderer.render().copy()

    def intrinsics(self) -> np.ndarray:
        return camera_intrinsics(self.config.width, self.config.height, self.fovy_deg)

    def close(self) -> None:
        self._renderer.close()

