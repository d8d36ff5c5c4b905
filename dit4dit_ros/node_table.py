"""The graph's nodes, written once: name, executable, start order, CPU priority and allowed failure reactions.

Every list of nodes derives from NODES: setup.py's console scripts (it reads this file with runpy, before the
package is installed, so this module imports nothing but the standard library), bringup/graph.py's KNOWN_NODES
(what `dit4dit run` may start), supervision/reactions.py's ALLOWED_REACTIONS and the launch files (which start
the nodes of NODES that have a section in their parameter YAML, like `dit4dit run`).
"""
from typing import NamedTuple

PACKAGE = "dit4dit_ros"


class NodeEntry(NamedTuple):
    name: str  # ROS node name = section of the parameter YAML
    executable: str  # console script / `ros2 run` name; the module is dit4dit_ros.nodes.<executable>
    nice: int = 0  # scheduling priority asked for (negative = more CPU); applied where permitted
    # What the supervisor may do when the node dies or hangs (supervision/reactions.py's Reaction values), the
    # first is the default: "stop" (the graph, executor first), "hold" (leave it down), "restart".
    on_failure: tuple[str, ...] = ("stop", "hold")
    # Publishes or takes camera images: joins ROS 2 over shared memory as well as UDP (a 640x480 stream over
    # UDP alone lost frames). Every other node is UDP-only, because FastDDS's shared-memory delivery takes a lock
    # in the *reader's* process: a reader stopped inside it (SIGSTOP, a debugger, a frozen cgroup) stalls every
    # writer that sends to it, for as long as it is stopped (utils/dds_transport.py has the measurement).
    images: bool = False

    @property
    def module(self) -> str:
        return f"{PACKAGE}.nodes.{self.executable}"


_OBSERVER = ("restart", "stop", "hold")  # nothing moves because of it: restart it, the robot keeps going

# Start order matters: the robot (or simulator) first, then perception, then the policy, the executor last, so
# that the executor only starts commanding once its inputs exist. `dit4dit run` stops the executor first.
NODES: tuple[NodeEntry, ...] = (
    # The simulated robot stands in for hardware with its own computer, and the 500 Hz executor must never
    # wait for the model: both get CPU before the policy on a small machine.
    NodeEntry("sim_robot", "sim_robot_node", nice=-5, on_failure=("stop",), images=True),
    NodeEntry("camera", "camera_node", images=True),
    NodeEntry("g1_state", "g1_state_node"),
    NodeEntry("clock_server", "clock_server_node", on_failure=_OBSERVER),  # robot host's clock (split-host check)
    NodeEntry("robot_state", "robot_state_node", on_failure=_OBSERVER),  # URDF + TF for viewers
    NodeEntry("recorder", "recorder_node", on_failure=_OBSERVER, images=True),
    NodeEntry("teleop", "teleop_node"),  # replay/expert sources (keyboard needs a TTY)
    NodeEntry("clock_offset", "clock_offset_node", on_failure=_OBSERVER),  # policy host vs robot
    NodeEntry("policy", "policy_node", images=True),
    NodeEntry("monitor", "monitor_node", on_failure=_OBSERVER),
    NodeEntry("executor", "executor_node", nice=-10, on_failure=("stop",)),
)


def uses_shared_memory(node: str) -> bool:
    """Whether node `node` joins ROS 2 over shared memory (it moves images); unknown names (tools, tests) do."""
    return next((n.images for n in NODES if n.name == node), True)


def console_scripts() -> list[str]:
    """setup.py entry points of the node executables (`ros2 run dit4dit_ros <executable>`)."""
    return [f"{n.executable} = {n.module}:main" for n in NODES]
