"""`dit4dit monitor --rerun [--web]`: the live graph in a Rerun viewer (native window, or the web viewer in a browser).

The viewer is Rerun's own (`rerun` from the rerun-sdk wheel), started here as a child process that listens on
127.0.0.1 only (Rerun binds every interface unless told otherwise); the bridge (nodes/rerun_bridge.py) streams to
it over gRPC. With --web it serves the web viewer over HTTP on 127.0.0.1 and prints the address to open. With
--save FILE nothing is served: the stream goes into an .rrd file.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dit4dit_ros.utils.waiting import wait_until

BIND = "127.0.0.1"


@dataclass(frozen=True)
class RerunMonitorOptions:
    web: bool = False
    grpc_port: int = 9876
    web_port: int = 9090
    save: Path | None = None
    scene: str = "sim"
    duration: float | None = None  # wall seconds; None: until Ctrl-C

    def __post_init__(self) -> None:
        for name in ("grpc_port", "web_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name} must be a TCP port (1..65535), got {getattr(self, name)}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"duration must be positive seconds, got {self.duration}")


def web_viewer_url(web_port: int, grpc_port: int) -> str:
    """The address that opens the web viewer on the stream of the gRPC proxy."""
    return f"http://{BIND}:{web_port}/?url=rerun%2Bhttp%3A%2F%2F{BIND}%3A{grpc_port}%2Fproxy"


def rerun_executable() -> str:
    exe = shutil.which("rerun", path=os.path.dirname(sys.executable)) or shutil.which("rerun")
    if exe is None:
        raise FileNotFoundError("the `rerun` viewer is not installed (pip install rerun-sdk==0.41.0, "
                                "requirements/base.txt)")
    return exe


def start_viewer(web: bool, grpc_port: int, web_port: int, source: str | None = None,
                 log_path: Path | None = None) -> subprocess.Popen:
    """Start `rerun` on 127.0.0.1: the gRPC proxy (+ the web viewer with `web`, else a native window), optionally
    serving `source` (an .rrd); returns once its ports accept connections."""
    cmd = [rerun_executable(), "--bind", BIND, "--port", str(grpc_port)]
    if web:
        cmd += ["--serve-web", "--web-viewer-port", str(web_port)]
    if source:
        cmd.append(source)
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    # Its own process group: the `rerun` entry point runs the viewer binary as a child, and both must stop together.
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RERUN_ANALYTICS": "0"},
                            start_new_session=True)
    ports = [grpc_port] + ([web_port] if web else [])

    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"`{' '.join(cmd)}` exited with {proc.returncode}" +
                               (f"; see {log_path}" if log_path else ""))
        for port in ports:
            with socket.socket() as s:
                if s.connect_ex((BIND, port)) != 0:
                    return False
        return True

    try:
        wait_until(listening, 30.0, poll=0.1, what=f"the Rerun viewer on {BIND} ports {ports}")
    except BaseException:
        stop_viewer(proc)
        raise
    return proc


def stop_viewer(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the viewer started by start_viewer: its process group (the entry point and the viewer binary)."""

    def group_alive() -> bool:
        try:
            os.killpg(proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive():
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (proc.poll() is None or group_alive()):
            time.sleep(0.05)
    if proc.poll() is None:
        proc.wait(timeout=timeout)


def run_rerun_monitor(opts: RerunMonitorOptions, stop: threading.Event | None = None) -> int:
    """Bridge the live graph into Rerun until Ctrl-C, `stop`, or `opts.duration`."""
    import rclpy
    import rerun as rr
    from rclpy.executors import SingleThreadedExecutor

    from dit4dit_ros.monitor.rerun_view import default_blueprint
    from dit4dit_ros.nodes.rerun_bridge import APPLICATION_ID, RerunBridge

    stop = stop or threading.Event()
    rec = rr.RecordingStream(APPLICATION_ID)
    viewer = None
    if opts.save:
        rec.save(str(opts.save), default_blueprint=default_blueprint())
        print(f"recording the live graph into {opts.save}", flush=True)
    else:
        viewer = start_viewer(opts.web, opts.grpc_port, opts.web_port)
        rec.connect_grpc(f"rerun+http://{BIND}:{opts.grpc_port}/proxy", default_blueprint=default_blueprint())
        where = f"open {web_viewer_url(opts.web_port, opts.grpc_port)}" if opts.web else "the Rerun window"
        print(f"live graph -> Rerun: {where}", flush=True)
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("dit4dit_rerun_bridge", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    bridge: Any = RerunBridge(node, rec, scene=opts.scene)
    deadline = time.monotonic() + opts.duration if opts.duration else float("inf")
    try:
        while not stop.is_set() and time.monotonic() < deadline and context.ok():
            executor.spin_once(timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        rec.flush()
        rec.disconnect()
        if viewer is not None:
            stop_viewer(viewer)
    print(f"bridged {bridge.counts}", flush=True)
    return 0
