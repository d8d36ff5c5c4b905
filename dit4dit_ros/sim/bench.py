"""`dit4dit bench sim`: how fast the simulator runs and how regular its LowState stream is.

Rows:
- mj_step alone (the physics), SimRobot.step (physics + PD law + command handling), the full loop with the
  DDS bridge filling/CRC'ing/publishing LowState every step, all as fast as possible: time per step and
  real-time factor (RTF = simulated s / wall s).
- the same loop rendering the ego camera synchronously at --camera-hz (what lock-step mode costs when the
  consumer acknowledges at once), per resolution.
- render time per frame per resolution.
- LowState as received by a DDS subscriber in this process from a `dit4dit sim-robot` child process in real
  time: rate and period p50/p99/max (jitter), without camera (--no-ros) and with the ROS node rendering
  224x224 frames in its render thread.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from dit4dit_ros.sim.loop import NullSink
from dit4dit_ros.utils.waiting import wait_until


def _parse_resolutions(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--resolutions: expected WxH items like 224x224, got {item!r}") from None
        out.append((w, h))
    return out


def _table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


class _AutoAck(NullSink):
    """Lock-step consumer that acknowledges every frame immediately (measures the rendering cost only)."""

    def __init__(self) -> None:
        self.loop = None

    def on_frame(self, image, t) -> None:
        self.loop.acknowledge(t)


def _lowstate_stats(args_sim: list[str], seconds: float) -> dict:
    from dit4dit_ros.g1.dds import LowStateLog, init_unitree_dds
    from dit4dit_ros.sim.process import SimRobotProcess

    init_unitree_dds()
    heard = LowStateLog()
    proc = SimRobotProcess([*args_sim, "--duration", str(seconds + 60)]).start()
    try:
        wait_until(lambda: len(heard) > 100 or not proc.alive, timeout=60.0, poll=0.05, what="LowState from sim-robot")
        if not proc.alive:
            raise RuntimeError(f"sim-robot exited:\n{proc.log()}")
        time.sleep(1.0)  # let the renderer (if any) reach its steady state before measuring
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
    finally:
        proc.stop()
        heard.close()
    t = np.array(heard.received_between(t0, t1))
    crc = [s.crc_ok for s in heard.since(0)]
    periods = np.diff(t) * 1e3
    return {
        "rate": (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0,
        "p50": float(np.percentile(periods, 50)) if periods.size else float("nan"),
        "p99": float(np.percentile(periods, 99)) if periods.size else float("nan"),
        "max": float(periods.max()) if periods.size else float("nan"),
        "crc_ok": float(np.mean(crc)) if crc else 0.0,
    }


def run_bench(args: argparse.Namespace) -> int:
    import mujoco

    from dit4dit_ros.sim.camera import CameraConfig, SimCamera
    from dit4dit_ros.sim.loop import LoopConfig, SimLoop
    from dit4dit_ros.sim.robot import SimRobot

    rows: list[tuple[str, str, str]] = [("measurement", "time", "real-time factor")]
    robot = SimRobot()
    dt = robot.dt
    n = max(1, int(args.seconds / dt))

    t0 = time.perf_counter()
    robot.step(n)
    el_robot = time.perf_counter() - t0
    # Physics alone from the same (held) state, motor torques frozen at the last PD output.
    data = mujoco.MjData(robot.model)
    data.qpos[:], data.qvel[:], data.ctrl[:] = robot.data.qpos, robot.data.qvel, robot.data.ctrl
    m = max(1, n // 4)  # the arms drift without the PD law: keep the window short
    t0 = time.perf_counter()
    for _ in range(m):
        mujoco.mj_step(robot.model, data)
    el = time.perf_counter() - t0
    rows.append(("mj_step (physics only)", f"{el / m * 1e6:.0f} us/step", f"{m * dt / el:.1f}x"))
    rows.append(("SimRobot.step (physics + PD law)", f"{el_robot / n * 1e6:.0f} us/step", f"{n * dt / el_robot:.1f}x"))

    from dit4dit_ros.sim.dds_bridge import SimDdsBridge

    bridge = SimDdsBridge(robot)
    loop = SimLoop(robot, LoopConfig(real_time_factor=0.0, camera=None, clock_rate_hz=0.0), sinks=[bridge])
    st = loop.run(duration=args.seconds / 2)
    rows.append(("loop + LowState fill/CRC/DDS publish", f"{(st.wall_end - st.wall_start) / st.steps * 1e6:.0f} us/step",
                 f"{st.real_time_factor:.1f}x"))

    for w, h in _parse_resolutions(args.resolutions):
        cam_cfg = CameraConfig(width=w, height=h, rate_hz=args.camera_hz)
        camera = SimCamera(robot.model, cam_cfg)
        camera.render(robot.data)  # first frame builds GPU-side (llvmpipe) buffers
        t0 = time.perf_counter()
        for _ in range(args.frames):
            camera.render(robot.data)
        per = (time.perf_counter() - t0) / args.frames
        camera.close()
        rows.append((f"render {w}x{h}", f"{per * 1e3:.0f} ms/frame", f"{1.0 / per:.1f} frames/s"))
        ack = _AutoAck()
        loop = SimLoop(robot, LoopConfig(real_time_factor=0.0, camera=cam_cfg, lockstep=True, clock_rate_hz=0.0),
                       sinks=[bridge, ack])
        ack.loop = loop
        st = loop.run(duration=max(2.0, 3 * per * 1.5))
        rows.append((f"loop + LowState + camera {w}x{h} @ {args.camera_hz:g} Hz (lock-step, instant ack)",
                     f"{st.render_seconds / max(st.frames, 1) * 1e3:.0f} ms/frame", f"{st.real_time_factor:.2f}x"))
    bridge.close()
    print(_table(rows))

    if not args.skip_dds:
        print()
        srows = [("LowState received over DDS (real time)", "rate", "period p50 / p99 / max")]
        for label, sim_args in (("sim-robot --no-ros (no camera)", ["--no-ros"]),
                                ("sim-robot with ROS node + camera 224x224 @ 10 Hz", ["--camera-hz", "10"])):
            s = _lowstate_stats(sim_args, args.lowstate_seconds)
            srows.append((label, f"{s['rate']:.1f} Hz", f"{s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.2f} ms"))
        print(_table(srows))
    print(f"\n(cores: {os.cpu_count()}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, dt {dt * 1e3:.0f} ms)")
    return 0
