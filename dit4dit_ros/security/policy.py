"""The graph's SROS2 access-control policy: one enclave per node, what each may publish, subscribe, serve, call.

Why: any process on the ROS domain could publish action chunks or call /executor/enable and /executor/reset_estop
and re-arm the robot. With DDS Security (SROS2) each node runs in its enclave (`--ros-args --enclave
/dit4dit/<node>`) with a certificate, and the permissions below decide who may do what:
- only the policy (and teleop, the operator's other command source) publish action chunks / teleop targets;
- only the executor serves its services; only the supervisor and the operator enclave call enable,
  disable and reset_estop; the e-stop (topic and service) stays open to every enclave of the graph;
- every node keeps the ROS plumbing it needs (rosout, parameter events, its own parameter services).
Topic names here are ROS names; `dds_topic()` maps them to the DDS names the permissions file needs (rt/, rq/, rr/).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dit4dit_ros.data.topics import (
    ACTION_CHUNK_TOPIC,
    CAMERA_INFO_TOPIC,
    CLOCK_OFFSET_STATUS_TOPIC,
    CLOCK_OFFSET_TOPIC,
    CLOCK_TIME_SERVICE,
    CLOCK_TOPIC,
    COMMAND_TOPIC,
    DIAGNOSTICS_TOPIC,
    ESTOP_TOPIC,
    EXECUTOR_STATE_TOPIC,
    IMAGE_TOPIC,
    IMU_TOPIC,
    INSTRUCTION_TOPIC,
    JOINT_STATES_TOPIC,
    MARKERS_TOPIC,
    POLICY_STATE_TOPIC,
    REMOTE_TOPIC,
    SIM_FRAME_ACK_TOPIC,
    SIM_RELEASE_SERVICE,
    SIM_RESET_SERVICE,
    SIM_TASK_TOPIC,
    TELEOP_TOPIC,
)

ENCLAVE_ROOT = "/dit4dit"
EXECUTOR_SERVICES = ("enable", "disable", "estop", "reset_estop", "enable_with_token", "reset_estop_with_token")
ARMING_SERVICES = ("/executor/enable", "/executor/disable", "/executor/reset_estop", "/executor/enable_with_token",
                   "/executor/reset_estop_with_token")  # need authority
OPEN_SERVICES = ("/executor/estop",)  # e-stop: everyone
COMMON_PUBLISH = ("/rosout", "/parameter_events", DIAGNOSTICS_TOPIC)
COMMON_SUBSCRIBE = ("/parameter_events", CLOCK_TOPIC)
PARAMETER_SERVICES = ("describe_parameters", "get_parameter_types", "get_parameters", "list_parameters",
                      "set_parameters", "set_parameters_atomically", "get_type_description")


@dataclass(frozen=True)
class EnclavePolicy:
    """What one enclave may do (ROS names)."""

    name: str  # enclave path below ENCLAVE_ROOT (the node name), e.g. "executor"
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    serve: tuple[str, ...] = ()
    call: tuple[str, ...] = ()
    node_names: tuple[str, ...] = field(default=())  # ROS nodes in this enclave (their parameter services)

    @property
    def enclave(self) -> str:
        return f"{ENCLAVE_ROOT}/{self.name}"

    def all_publish(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.publish + COMMON_PUBLISH + (ESTOP_TOPIC,)))

    def all_subscribe(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.subscribe + COMMON_SUBSCRIBE))

    def all_serve(self) -> tuple[str, ...]:
        own = tuple(f"/{n}/{s}" for n in (self.node_names or (self.name,)) for s in PARAMETER_SERVICES)
        return tuple(dict.fromkeys(self.serve + own))

    def all_call(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.call + OPEN_SERVICES))


_SENSORS = (IMAGE_TOPIC, CAMERA_INFO_TOPIC, JOINT_STATES_TOPIC, IMU_TOPIC)
_CHUNK, _TELEOP = ACTION_CHUNK_TOPIC, TELEOP_TOPIC
_EXECUTOR_OUT = (EXECUTOR_STATE_TOPIC, COMMAND_TOPIC)

GRAPH_POLICY: tuple[EnclavePolicy, ...] = (
    EnclavePolicy("sim_robot", publish=(CLOCK_TOPIC, IMAGE_TOPIC, CAMERA_INFO_TOPIC, SIM_TASK_TOPIC),
                  subscribe=(_CHUNK, SIM_FRAME_ACK_TOPIC), serve=(SIM_RESET_SERVICE, SIM_RELEASE_SERVICE)),
    EnclavePolicy("camera", publish=(IMAGE_TOPIC, CAMERA_INFO_TOPIC)),
    EnclavePolicy("g1_state", publish=(JOINT_STATES_TOPIC, IMU_TOPIC, REMOTE_TOPIC)),
    EnclavePolicy("clock_server", serve=(CLOCK_TIME_SERVICE,)),
    EnclavePolicy("clock_offset", publish=(CLOCK_OFFSET_TOPIC, CLOCK_OFFSET_STATUS_TOPIC),
                  call=(CLOCK_TIME_SERVICE,)),
    EnclavePolicy("recorder", publish=("/dit4dit/recorder/status", "/dit4dit/recorder/episode_count"),
                  subscribe=_SENSORS + (_CHUNK, INSTRUCTION_TOPIC) + _EXECUTOR_OUT,
                  serve=tuple(f"/dit4dit/recorder/{s}" for s in ("start", "stop", "discard", "mark_success"))),
    EnclavePolicy("teleop", publish=(_TELEOP,), subscribe=(JOINT_STATES_TOPIC, SIM_TASK_TOPIC)),
    EnclavePolicy("policy", publish=(_CHUNK, POLICY_STATE_TOPIC),
                  subscribe=(IMAGE_TOPIC, JOINT_STATES_TOPIC, INSTRUCTION_TOPIC)),
    EnclavePolicy("monitor", publish=(MARKERS_TOPIC,), subscribe=(_CHUNK, JOINT_STATES_TOPIC)),
    EnclavePolicy("executor", publish=_EXECUTOR_OUT,
                  subscribe=(_CHUNK, _TELEOP, ESTOP_TOPIC, REMOTE_TOPIC, CLOCK_OFFSET_STATUS_TOPIC),
                  serve=tuple(f"/executor/{s}" for s in EXECUTOR_SERVICES)),
    EnclavePolicy("supervisor", node_names=("dit4dit_supervisor",), publish=(INSTRUCTION_TOPIC,),
                  subscribe=(_CHUNK, JOINT_STATES_TOPIC, EXECUTOR_STATE_TOPIC), call=ARMING_SERVICES),
    # The operator's tools on the robot computer (ros2 service call, a GUI): may arm and reset the robot.
    EnclavePolicy("operator", node_names=(), publish=(INSTRUCTION_TOPIC,),
                  subscribe=(EXECUTOR_STATE_TOPIC, DIAGNOSTICS_TOPIC) + _SENSORS, call=ARMING_SERVICES),
)


def dds_topic(ros_name: str) -> str:
    """ROS topic name -> DDS topic name (rt/ prefix, no leading slash)."""
    return "rt/" + ros_name.lstrip("/")


def dds_service_topics(ros_name: str) -> tuple[str, str]:
    """ROS service name -> its (request, reply) DDS topic names."""
    base = ros_name.lstrip("/")
    return f"rq/{base}Request", f"rr/{base}Reply"


def policy_for(name: str) -> EnclavePolicy:
    for p in GRAPH_POLICY:
        if p.name == name:
            return p
    raise KeyError(f"no enclave {name!r} in the graph's policy; known: {[p.name for p in GRAPH_POLICY]}")
