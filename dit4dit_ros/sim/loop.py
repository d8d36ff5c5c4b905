"""The simulator's main loop: physics pacing, state publication, camera frames, clock, task status.

Two modes (LoopConfig.lockstep):

Real time (lockstep=False): physics steps are paced against the wall clock at `real_time_factor` (0 = as
fast as possible). Camera frames are rendered in a separate thread from a snapshot of the state at the
frame's simulation time; a frame is skipped (counted) when the renderer is still busy with the previous one,
so the physics never waits for rendering. A frame's stamp is the simulation time it shows.

Lock-step (lockstep=True), the rule:
  1. Physics advances in blocks of one camera period (steps_per_frame physics steps), paced like real time
     inside a block, so that 500 Hz command streams keep up with it.
  2. At the end of block k the loop renders frame k synchronously (simulation time is frozen meanwhile),
     hands it to the sinks (the ROS node publishes it, stamped with the simulation time), and then
  3. does not start block k+1 until the consumer acknowledges frame k, i.e. `acknowledge(stamp)` is called
     with stamp >= frame k's stamp (the ROS node calls it for each std_msgs/Header received on the ack
     topic), or `lockstep_timeout` wall seconds have passed (0 = wait forever).
  While paused, nothing new is published: no LowState, no clock (time is frozen, so simulation-time timeouts
  do not fire). Frame k itself is re-sent every `lockstep_resend` wall seconds (same image, same stamp), so
  that a frame lost on a best-effort topic or sent before the consumer subscribed cannot stall the
  simulation forever; consumers must treat a repeated stamp as the same frame. Consumers that need the next
  frame simply acknowledge the last one.
  A reset requested while the physics runs is carried out at the next frame (the step after it), so every
  episode starts at the same phase of the frame grid. With `hold_after_reset`, a reset also pauses: the state right after it goes out, then nothing moves until
  `release()` (or `lockstep_timeout`). An evaluator enables the executor meanwhile, so the soft start begins at
  the same simulation time in every run, however long the enable took.

An optional third-person scene camera (LoopConfig.scene_camera, for rollout videos and viewers) renders at its
own rate: in lock-step right after an ego frame is handed out (while the consumer computes its answer) or, between
ego frames, with simulation time frozen for the render; in real time in its own render thread. It never changes
the ego images.

Sinks receive: `on_state(robot)` at the LowState rate, `on_clock(t)` at the clock rate, `on_frame(image, t)`,
`on_scene_frame(image, t)`, `on_task(status)` at the status rate and after every reset. All are called from the
loop thread, except the frames in real-time mode (the render threads).
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dit4dit_ros.g1.model import HEAD_CAMERA
from dit4dit_ros.sim.camera import CameraConfig, SimCamera, ViewPoint
from dit4dit_ros.sim.robot import SimRobot
from dit4dit_ros.sim.tasks import TaskStatus
from dit4dit_ros.g1.timing import CONTROL_RATE_HZ
from dit4dit_ros.utils.param_fields import param_field
from dit4dit_ros.utils.realtime import leave_realtime

LOG = logging.getLogger(__name__)
MAX_LAG = 0.1  # s behind the wall-clock schedule before the loop stops catching up and re-anchors


class SimSink(Protocol):
    def on_state(self, robot: SimRobot) -> None: ...
    def on_clock(self, sim_time: float) -> None: ...
    def on_frame(self, image: np.ndarray, sim_time: float) -> None: ...
    def on_scene_frame(self, image: np.ndarray, sim_time: float) -> None: ...
    def on_task(self, status: TaskStatus) -> None: ...


class NullSink:
    """A sink that ignores everything (subclass it and override what you need)."""

    def on_state(self, robot: SimRobot) -> None:
        pass

    def on_clock(self, sim_time: float) -> None:
        pass

    def on_frame(self, image: np.ndarray, sim_time: float) -> None:
        pass

    def on_scene_frame(self, image: np.ndarray, sim_time: float) -> None:
        pass

    def on_ack(self, stamp: float, chunk: bool) -> None:
        pass

    def on_resume(self) -> None:
        pass

    def on_task(self, status: TaskStatus) -> None:
        pass


def _divisor_steps(rate_hz: float, dt: float, what: str) -> int:
    steps = round(1.0 / (rate_hz * dt))
    if steps < 1 or not math.isclose(steps * rate_hz * dt, 1.0, rel_tol=1e-6):
        raise ValueError(f"{what} {rate_hz} Hz must divide the physics rate {1.0 / dt:.0f} Hz (e.g. 500, 250, 100)")
    return steps


@dataclass(frozen=True)
class LoopConfig:
    state_rate_hz: float = param_field(CONTROL_RATE_HZ, "rt/lowstate rate [Hz of sim time] (the robot: 500; Unitree's "
                                       "simulator: 200)", minimum=1.0, maximum=CONTROL_RATE_HZ)
    real_time_factor: float = param_field(1.0, "sim seconds per wall second (0: as fast as possible)", minimum=0.0,
                                          maximum=100.0)
    camera: CameraConfig | None = field(default_factory=CameraConfig)  # None: no rendering
    lockstep: bool = param_field(False, "pause the simulation at every frame until it is acknowledged (see sim/loop.py)")
    lockstep_timeout: float = param_field(5.0, "lock-step: wall seconds to wait for a frame acknowledgement (0: forever)",
                                          minimum=0.0, maximum=3600.0)
    lockstep_resend: float = param_field(1.0, "lock-step: wall seconds between re-sends of an unacknowledged frame",
                                         minimum=0.05, maximum=60.0)
    hold_after_reset: bool = param_field(False, "lock-step: after a reset, publish the new state and pause until "
                                         "released (/dit4dit/sim/release) or lockstep_timeout (see sim/loop.py)")
    clock_rate_hz: float = param_field(CONTROL_RATE_HZ, "/clock rate [Hz of sim time], must divide 500 (0: no /clock)",
                                       minimum=0.0, maximum=CONTROL_RATE_HZ)
    task_rate_hz: float = param_field(5.0, "task status rate [Hz of sim time] (0: only after resets)", minimum=0.0,
                                      maximum=100.0)
    scene_camera: CameraConfig | None = None  # third-person view (rate_hz of its own); None: not rendered
    scene_view: ViewPoint = field(default_factory=ViewPoint)

    def __post_init__(self) -> None:
        if self.state_rate_hz <= 0:
            raise ValueError(f"state_rate_hz must be positive, got {self.state_rate_hz}")
        if self.real_time_factor < 0:
            raise ValueError(f"real_time_factor must be >= 0 (0 = as fast as possible), got {self.real_time_factor}")
        if self.lockstep and self.camera is None:
            raise ValueError("lockstep needs the camera (it steps from frame to frame)")
        if self.lockstep_timeout < 0 or self.clock_rate_hz < 0 or self.task_rate_hz < 0:
            raise ValueError("lockstep_timeout, clock_rate_hz and task_rate_hz must be >= 0")
        if self.lockstep_resend <= 0:
            raise ValueError(f"lockstep_resend must be positive seconds, got {self.lockstep_resend}")


@dataclass
class LoopStats:
    steps: int = 0
    frames: int = 0
    frames_skipped: int = 0  # real-time mode: renderer still busy
    frames_resent: int = 0  # lock-step mode: unacknowledged frames sent again
    ack_timeouts: int = 0
    hold_timeouts: int = 0  # hold_after_reset: no release within lockstep_timeout
    scene_frames: int = 0
    overruns: int = 0  # re-anchors after falling more than MAX_LAG behind
    render_seconds: float = 0.0
    wall_start: float = 0.0
    sim_start: float = 0.0
    wall_end: float = 0.0
    sim_end: float = 0.0

    @property
    def real_time_factor(self) -> float:
        wall = self.wall_end - self.wall_start
        return (self.sim_end - self.sim_start) / wall if wall > 0 else 0.0


class _AsyncRenderer:
    """Renders snapshots in its own thread (the GL context lives there); drops requests while busy."""

    def __init__(self, robot: SimRobot, config: CameraConfig, sinks: list[SimSink], stats: LoopStats,
                 view: str | ViewPoint = HEAD_CAMERA) -> None:
        self._robot, self._config, self._sinks, self._stats = robot, config, sinks, stats
        self._view = view
        self._scene = isinstance(view, ViewPoint)
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-render", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=60.0):
            raise TimeoutError("the render thread did not create its camera within 60 s")
        if self._error is not None:
            raise RuntimeError("cannot create the offscreen camera") from self._error

    def submit(self, snapshot: dict[str, np.ndarray]) -> bool:
        try:
            self._queue.put_nowait(snapshot)
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        import mujoco

        leave_realtime()  # a real-time physics process: rendering is heavy and not time-critical (utils/realtime.py)
        try:
            camera = SimCamera(self._robot.model, self._config, self._view)
            data = mujoco.MjData(self._robot.model)
        except BaseException as exc:  # surfaced to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            snap = self._queue.get()
            if snap is None:
                break
            data.qpos[:] = snap["qpos"]
            data.mocap_pos[:] = snap["mocap_pos"]
            data.mocap_quat[:] = snap["mocap_quat"]
            data.time = float(snap["time"])
            mujoco.mj_forward(self._robot.model, data)
            t0 = time.perf_counter()
            image = camera.render(data)
            if self._scene:
                self._stats.scene_frames += 1
                for sink in self._sinks:
                    sink.on_scene_frame(image, float(snap["time"]))
                continue
            self._stats.render_seconds += time.perf_counter() - t0
            self._stats.frames += 1
            for sink in self._sinks:
                sink.on_frame(image, float(snap["time"]))
        camera.close()

    def close(self) -> None:
        self._queue.put(None)  # blocks at most until the current frame is done
        self._thread.join(timeout=5.0)


class SimLoop:
    """Runs a SimRobot until `stop()` or a wall-clock duration, feeding the sinks."""

    def __init__(self, robot: SimRobot, config: LoopConfig | None = None, sinks: list[SimSink] | None = None) -> None:
        self.robot = robot
        self.config = config or LoopConfig()
        self.sinks: list[SimSink] = list(sinks or [])
        dt = robot.dt
        # LowState on a schedule of simulated time: any rate up to the physics rate, e.g. 200 Hz like Unitree's
        # own simulator (every 2.5 steps on average); a divisor of 500 Hz gives exactly every k-th step.
        self.steps_per_state = 1.0 / (self.config.state_rate_hz * dt)
        if self.steps_per_state < 1.0 - 1e-9:
            raise ValueError(f"state_rate_hz {self.config.state_rate_hz} exceeds the physics rate {1.0 / dt:.0f} Hz")
        self.steps_per_clock = _divisor_steps(self.config.clock_rate_hz, dt, "clock_rate_hz") if self.config.clock_rate_hz else 0
        cam = self.config.camera
        self.steps_per_frame = max(1, round(1.0 / (cam.rate_hz * dt))) if cam else 0
        self.steps_per_task = max(1, round(1.0 / (self.config.task_rate_hz * dt))) if self.config.task_rate_hz else 0
        scene = self.config.scene_camera
        self.steps_per_scene = max(1, round(1.0 / (scene.rate_hz * dt))) if scene else 0
        self.stats = LoopStats()
        self._stop = threading.Event()
        self._ack_lock = threading.Condition()
        self._acked_stamp = -math.inf
        self._last_resets = robot.counters.resets
        self._released_upto = robot.counters.resets  # hold_after_reset: resets released so far

    # ------------------------------------------------------------- control from other threads
    def stop(self) -> None:
        self._stop.set()
        with self._ack_lock:
            self._ack_lock.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def acknowledge(self, stamp: float, chunk: bool = False) -> None:
        """Lock-step: the consumer took the frame stamped `stamp` (simulation seconds); `chunk`: by an action chunk
        of that stamp (sinks hear of it first: a command-stepped bridge then waits for the executor to hold it)."""
        for sink in self.sinks:
            sink.on_ack(stamp, chunk)
        with self._ack_lock:
            if stamp > self._acked_stamp:
                self._acked_stamp = stamp
            self._ack_lock.notify_all()

    def release(self) -> None:
        """hold_after_reset: the resets done so far may go on (a release that comes before the hold counts)."""
        with self._ack_lock:
            self._released_upto = self.robot.counters.resets
            self._ack_lock.notify_all()

    def _hold_until_released(self, deadline: float) -> None:
        resets, st = self.robot.counters.resets, self.stats
        timeout = self.config.lockstep_timeout
        wait_until = min(deadline, time.monotonic() + timeout) if timeout > 0 else deadline
        with self._ack_lock:
            while not self._stop.is_set() and self._released_upto < resets:
                now = time.monotonic()
                if now >= wait_until:
                    if now < deadline:
                        st.hold_timeouts += 1
                    return
                self._ack_lock.wait(timeout=min(wait_until - now, 0.05))

    # ------------------------------------------------------------- loop
    def run(self, duration: float | None = None) -> LoopStats:
        """Run until stop() (any thread) or `duration` wall seconds; returns the statistics."""
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be positive seconds, got {duration}")
        cfg, robot = self.config, self.robot
        renderer: _AsyncRenderer | None = None
        scene_renderer: _AsyncRenderer | None = None
        camera: SimCamera | None = None
        self._scene_camera = None
        if cfg.camera is not None:
            if cfg.lockstep:
                camera = SimCamera(robot.model, cfg.camera)
            else:
                renderer = _AsyncRenderer(robot, cfg.camera, self.sinks, self.stats)
        if cfg.scene_camera is not None:
            if cfg.lockstep:
                self._scene_camera = SimCamera(robot.model, cfg.scene_camera, cfg.scene_view)
            else:
                scene_renderer = _AsyncRenderer(robot, cfg.scene_camera, self.sinks, self.stats, cfg.scene_view)
        period = robot.dt / cfg.real_time_factor if cfg.real_time_factor > 0 else 0.0
        st = self.stats
        st.wall_start = time.monotonic()
        st.sim_start = robot.time
        deadline = st.wall_start + duration if duration is not None else math.inf
        at_frame = [True]
        if cfg.lockstep:  # resets only right after a frame (module docstring)
            robot.reset_gate = lambda: at_frame[0]
        self._emit_task()
        next_wall = time.monotonic()
        step = 0
        task_phase = 0
        next_state_step = self.steps_per_state
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                robot.step()
                at_frame[0] = False
                step += 1
                st.steps += 1
                reset_now = robot.counters.resets != self._last_resets
                if reset_now:
                    self._last_resets = robot.counters.resets
                    task_phase = step - 1  # the status grid restarts with the episode (below): its step 0
                    self._emit_task()
                state_due = step + 1e-9 >= next_state_step
                if state_due:
                    next_state_step += self.steps_per_state
                if state_due or (reset_now and cfg.lockstep and cfg.hold_after_reset):
                    for sink in self.sinks:
                        sink.on_state(robot)
                if reset_now and cfg.lockstep and cfg.hold_after_reset:
                    self._hold_until_released(deadline)
                    next_wall = time.monotonic()  # the pause does not count against the schedule
                if self.steps_per_clock and step % self.steps_per_clock == 0:
                    for sink in self.sinks:
                        sink.on_clock(robot.time)
                # counted from the episode's reset, not from the loop's start: on a grid of its own, the statuses of
                # an episode fell at other episode times when its reset landed on another frame (a graph evaluation
                # that waits for a status time saw 0.066, 0.166, ... in one run and 0.1, 0.2, ... in the next)
                if self.steps_per_task and (step - task_phase) % self.steps_per_task == 0:
                    self._emit_task()
                ego_frame = self.steps_per_frame and step % self.steps_per_frame == 0
                if self.steps_per_scene and step % self.steps_per_scene == 0:
                    if scene_renderer is not None:
                        scene_renderer.submit(robot.snapshot())
                    elif not ego_frame:  # lock-step: rendered during the ego frame's wait when both are due
                        self._render_scene()
                        next_wall = time.monotonic()
                if ego_frame:
                    if camera is not None:
                        self._lockstep_frame(camera, deadline, scene=bool(self.steps_per_scene)
                                             and step % self.steps_per_scene == 0)
                        for sink in self.sinks:  # before the next physics step (a command-stepped bridge waits)
                            sink.on_resume()
                        at_frame[0] = True
                        next_wall = time.monotonic()  # the pause does not count against the schedule
                        continue
                    if renderer is not None and not renderer.submit(robot.snapshot()):
                        st.frames_skipped += 1
                if period > 0:
                    next_wall += period
                    delay = next_wall - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    elif delay < -MAX_LAG:
                        st.overruns += 1
                        next_wall = time.monotonic()
        finally:
            st.wall_end = time.monotonic()
            st.sim_end = robot.time
            for r in (renderer, scene_renderer):
                if r is not None:
                    r.close()
            for c in (camera, self._scene_camera):
                if c is not None:
                    c.close()
        return st

    def _render_scene(self) -> None:
        """Lock-step: the third-person view of the current state (simulation time stands still meanwhile)."""
        image = self._scene_camera.render(self.robot.data)
        self.stats.scene_frames += 1
        for sink in self.sinks:
            sink.on_scene_frame(image, self.robot.time)

    def _emit_task(self) -> None:
        status = self.robot.task_status()
        for sink in self.sinks:
            sink.on_task(status)

    def _lockstep_frame(self, camera: SimCamera, deadline: float, scene: bool = False) -> None:
        robot, st = self.robot, self.stats
        t0 = time.perf_counter()
        image = camera.render(robot.data)
        st.render_seconds += time.perf_counter() - t0
        st.frames += 1
        stamp = robot.time
        for sink in self.sinks:
            sink.on_frame(image, stamp)
        if scene:  # while the consumer computes its answer to the ego frame
            self._render_scene()
        timeout = self.config.lockstep_timeout
        wait_until = min(deadline, time.monotonic() + timeout) if timeout > 0 else deadline
        next_resend = time.monotonic() + self.config.lockstep_resend
        while not self._stop.is_set():
            if self.robot.reset_pending:
                return  # the episode of this frame is being reset: nobody will answer it, step on to the reset
            with self._ack_lock:
                if self._acked_stamp >= stamp - 1e-9:
                    return
                now = time.monotonic()
                if now >= wait_until:
                    if now < deadline:
                        st.ack_timeouts += 1
                    return
                if now < next_resend:
                    # Bounded waits so that a reset request (which does not notify this condition) is seen soon.
                    self._ack_lock.wait(timeout=min(wait_until, next_resend, now + 0.05) - now)
                    continue
            for sink in self.sinks:  # outside the lock: sinks may be slow
                sink.on_frame(image, stamp)
            st.frames_resent += 1
            next_resend = time.monotonic() + self.config.lockstep_resend
