"""Start the DiT4DiT graph on the simulated G1 (separate processes, one per node), like `dit4dit run`.

    ros2 launch dit4dit_ros dit4dit_sim.launch.py checkpoint:=DIR instruction:="..." [config:=YAML]
        [engine:=torch|onnxruntime|tensorrt] [enable:=true] [unitree_domain:=N]

Same nodes and the same parameter YAML as `dit4dit run --config config/g1_sim.yaml`. Defaults: the installed
config/g1_sim.yaml and the shipped demo checkpoint models/g1_reach_small. The instruction goes to the policy as
its initial instruction (change it live on /dit4dit/instruction). `enable` sets the executor's auto_enable.
The simulated robot's Unitree DDS domain (`unitree_domain`, default 150) must differ from ROS_DOMAIN_ID: the
nodes refuse to share one domain between FastDDS and CycloneDDS.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    # launch_graph checks the whole parameter file before any node starts, like `dit4dit run`
    from dit4dit_ros.bringup.launch_support import launch_arguments, launch_graph

    return LaunchDescription(launch_arguments("g1_sim.yaml") + [
        DeclareLaunchArgument("unitree_domain", default_value="150",
                              description="Unitree DDS domain of the simulated robot (not ROS_DOMAIN_ID)"),
        SetEnvironmentVariable("DIT4DIT_UNITREE_DOMAIN", LaunchConfiguration("unitree_domain")),
        SetEnvironmentVariable("DIT4DIT_UNITREE_INTERFACE", "lo"),
        OpaqueFunction(function=launch_graph, kwargs={"common": {"use_sim_time": True}}),
    ])
