"""The `main()` of every node: init, build, spin until Ctrl-C (or the node says it is done), clean shutdown.

Started by `dit4dit run`, the node is on a lifeline to it (nodes/supervision.py): it shuts down the same clean
way when the supervisor dies or hangs, and its heartbeats tell the supervisor that its event loop runs. When the
loop stops for 2 s, every thread's stack goes to the node's stderr (nodes/stall_watch.py) to say where it stopped.

A node that cannot start because of its configuration (bad parameter, missing file, no device) logs one clear
line naming the node and exits with code 2 instead of a traceback: `dit4dit run` and launch files then show
the reason at a glance.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from dit4dit_ros.node_table import uses_shared_memory
from dit4dit_ros.nodes.stall_watch import StallWatch
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.utils.dds_transport import configure_ros_transport

STARTUP_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError, OSError)


@contextmanager
def ending_with_context(node: Node) -> Iterator[None]:
    """For work a node does outside its executor (a DDS listener, its own thread): an error raised because the
    node's ROS context was shut down meanwhile (Ctrl-C, SIGTERM, a lost supervisor: "publisher's context is
    invalid") ends that work quietly; any error while the context is up is raised as usual."""
    try:
        yield
    except Exception:
        if node.context.ok():
            raise


def configure_node_transport(name: str) -> None:
    """The stack's ROS transport for node `name`: shared memory only if it moves images (node_table.py)."""
    configure_ros_transport(shared_memory=uses_shared_memory(name))


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None,
             startup_errors: tuple[type[BaseException], ...] = STARTUP_ERRORS) -> int:
    """Run the node built by `factory` until shutdown; `node.done` (if the node has it) also ends the spin."""
    configure_node_transport(name)
    rclpy.init(args=args)
    link = connect_supervisor(name)
    node = watch = None
    try:
        try:
            node = factory()
        except startup_errors as exc:
            rclpy.logging.get_logger(name).error(f"{name} node cannot start: {exc}")
            return 2
        beat_from(node, link)
        watch = StallWatch(node)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        with ending_with_context(node):  # SIGINT while spin_once builds a wait set: "context is not valid"
            while rclpy.ok() and not getattr(node, "done", False):
                executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if watch is not None:
            watch.close()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
