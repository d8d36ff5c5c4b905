"""The sim robot's physics process (`python -m dit4dit_ros.sim.core_process`), started by the ROS node through
SimCoreClient (sim/core_link.py, which says why it is a process of its own and lists the messages).

No rclpy in this interpreter: the physics loop (SimLoop) with LowState/LowCmd and the hands on Unitree DDS
(SimDdsBridge, CycloneDDS), the ego and scene cameras, and one outbox thread that writes the clock, frames and task
status to the node's pipe, newest value per kind (utils/outbox.py): a node that stops reading (hung, SIGSTOP)
fills the pipe and blocks only that thread, which waits with the interpreter lock released.

Life cycle: SIGTERM when the node dies (utils/process_life.py), SIGTERM/SIGINT, a stop message or the end of the
pipe stop the loop; `duration` ends it too. Exit status 0 after a normal stop, 2 when start-up failed (the reason
goes to the node, which raises it, and to stderr).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from dit4dit_ros.utils.process_life import die_with_parent, stop_on_signals

LOG = logging.getLogger("dit4dit_ros.sim.core")
RESET_TIMEOUT = 10.0  # wall s for the loop thread to carry out a reset


class LinkSink:
    """A SimLoop sink that hands clock, frames and task status to the outbox (never waits for the node)."""

    def __init__(self, robot: Any, send: Any, extra_counters: Any = dict) -> None:
        from dit4dit_ros.sim.scene import CUBE_BODY, TARGET_BODY
        from dit4dit_ros.utils.outbox import LatestOutbox

        self.robot, self._send, self._extra_counters = robot, send, extra_counters
        self._objects = (CUBE_BODY, TARGET_BODY)
        self.outbox = LatestOutbox("sim-core-out")

    def _post(self, key: str, msg: tuple) -> None:
        self.outbox.post(key, lambda: self._send(msg))

    def on_state(self, robot: Any) -> None:
        pass  # LowState goes out on DDS (SimDdsBridge)

    def on_clock(self, sim_time: float) -> None:
        self._post("clock", ("clock", sim_time))

    def on_frame(self, image: Any, sim_time: float) -> None:
        self._post("frame", ("frame", image.copy(), sim_time))

    def on_scene_frame(self, image: Any, sim_time: float) -> None:
        self._post("scene", ("scene", image.copy(), sim_time))

    def on_ack(self, stamp: float, chunk: bool) -> None:
        pass

    def on_resume(self) -> None:
        pass

    def on_task(self, status: Any) -> None:  # physics thread: a snapshot of this instant
        from dit4dit_ros.sim.world_frames import object_frames

        robot = self.robot
        robot_status = robot.robot_status()
        robot_status["counters"].update(self._extra_counters())  # the DDS bridge's (command stepping)
        self._post("task", ("task", status, robot_status, object_frames(robot.data, self._objects), robot.time))

    def close(self) -> None:
        self.outbox.close()


def _serve_requests(conn: Connection, loop: Any, robot: Any, send: Any) -> None:
    """The node's requests, until it says stop or its end of the pipe closes (then the loop stops)."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == "ack":
            loop.acknowledge(float(msg[1]), chunk=bool(msg[2]))
        elif msg[0] == "release":
            loop.release()
        elif msg[0] == "reset":
            done = robot.request_reset(int(msg[2]), timeout=RESET_TIMEOUT)
            send(("reset", msg[1], bool(done), robot.task_status() if done else None))
        elif msg[0] == "stop":
            break
    loop.stop()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dit4dit_ros.sim.core_process", description=__doc__)
    p.add_argument("--fd", type=int, required=True, help="this end of the node's socket pair")
    p.add_argument("--parent", type=int, required=True, help="the node's PID")
    p.add_argument("--config", required=True, help="JSON: the sim_robot node's parameter values")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    die_with_parent(args.parent)
    logging.basicConfig(level=logging.INFO, format="[sim-core] %(asctime)s %(levelname)s %(name)s: %(message)s")
    conn = Connection(args.fd)
    values = json.loads(args.config)
    stop = threading.Event()
    loop_box: list[Any] = []

    def stop_all() -> None:
        stop.set()
        if loop_box:
            loop_box[0].stop()

    with stop_on_signals(stop_all):  # SIGTERM (the node, or the parent-death signal), Ctrl-C
        return _simulate(conn, values, stop, loop_box)


def _simulate(conn: Connection, values: dict, stop: threading.Event, loop_box: list[Any]) -> int:
    """Build the robot, its DDS bridge and the loop; run until stopped. `loop_box` lets the signal watcher stop the
    loop once it exists; `stop` is set when a signal came before."""
    from dit4dit_ros.sim.dds_bridge import SimDdsBridge
    from dit4dit_ros.sim.loop import SimLoop
    from dit4dit_ros.sim.params import bridge_config_from_values, configs_from_values
    from dit4dit_ros.sim.robot import SimRobot
    from dit4dit_ros.sim.world_frames import stand_frame
    from dit4dit_ros.utils.realtime import RealtimeConfig, apply_realtime

    # Real time before any DDS entity: CycloneDDS creates its threads with the domain and a new thread inherits
    # its creator's scheduling, so the LowCmd/hand-command receive threads run as the physics loop does.
    apply_realtime(RealtimeConfig.from_values(values), "sim robot physics + LowState process")
    try:
        robot_cfg, loop_cfg, seed = configs_from_values(values)
        robot = SimRobot(robot_cfg, seed=seed)
        bridge = SimDdsBridge(robot, config=bridge_config_from_values(values))
    except Exception as exc:  # bad parameters, DDS bound elsewhere: say so, exit
        LOG.error("sim robot physics process cannot start: %s", exc)
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return 2
    send_lock = threading.Lock()

    def send(msg: tuple) -> None:  # one writer at a time: the outbox thread and the request thread share the pipe
        with send_lock:
            conn.send(msg)

    sink = LinkSink(robot, send, bridge.counters)
    loop = SimLoop(robot, loop_cfg, sinks=[bridge, sink])
    loop_box.append(loop)
    if stop.is_set():
        loop.stop()
    send(("ready", {"stand": stand_frame(robot.model)}))
    threading.Thread(target=_serve_requests, args=(conn, loop, robot, send), name="sim-core-requests",
                     daemon=True).start()
    try:
        stats = loop.run(float(values["duration"]) or None)
    finally:
        sink.close()
        bridge.close()
        conn.close()
    LOG.info("sim robot stopped: %.2f s simulated in %.2f s wall (RTF %.2f), %d frames (%.1f s rendering), %d LowState%s",
             stats.sim_end - stats.sim_start, stats.wall_end - stats.wall_start, stats.real_time_factor,
             stats.frames, stats.render_seconds, bridge.published,
             "".join(f", {k} {v}" for k, v in bridge.counters().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
