"""Start the DiT4DiT graph on a physical G1 (separate processes, one per node), like `dit4dit run`.

    ros2 launch dit4dit_ros dit4dit_g1.launch.py checkpoint:=DIR instruction:="..." [config:=YAML]
        [engine:=torch|onnxruntime|tensorrt] [enable:=false]

Same nodes as the simulation launch file, with the real camera instead of the simulator, and
config/g1_real.yaml (robot network interface, Unitree DDS domain 0, control path, clock server/offset). Run it
on the robot's computer with ROS_DOMAIN_ID set to anything but 0 (the nodes refuse to share the robot's DDS
domain); for a policy on another host see docs/split_host.md. Follow the README's "On a real G1" first.
`enable` defaults to false: enable by hand after checking the status (README).
"""

from launch import LaunchDescription
from launch.actions import OpaqueFunction


def generate_launch_description():
    # launch_graph checks the whole parameter file before any node starts, like `dit4dit run`
    from dit4dit_ros.bringup.launch_support import launch_arguments, launch_graph

    return LaunchDescription(launch_arguments("g1_real.yaml") + [OpaqueFunction(function=launch_graph)])
