"""Typed status messages: the simulator's task status and the policy's state as diagnostic_msgs/DiagnosticStatus.

Tools read these key/values without parsing JSON (`ros2 topic echo`, rqt, the evaluation, the Rerun bridge);
`message` keeps a human-readable line. Keys are flat: a task metric `m` is `metric.m`, a robot counter `c` is
`robot.counters.c`. Booleans are "true"/"false", numbers use Python's repr so they read back exactly.

The executor's state and the recorder's status are nested (tick timing, LowState gate counts, per-topic counts):
their keys are dotted paths ("tick.late_p99"), and executor_state() / recorder_status() nest them again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from dit4dit_ros.data.topics import EXECUTOR_STATE_TOPIC as EXECUTOR_STATE_TOPIC  # re-exported
from dit4dit_ros.sim.tasks import TaskStatus

TASK_STATUS_NAME = "sim_robot: task"
POLICY_STATUS_NAME = "policy: state"
RECORDER_STATUS_NAME = "recorder: status"
OK, WARN, ERROR = b"\x00", b"\x01", b"\x02"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


def _parse(text: str) -> Any:
    """A value written by _text back to bool / int / float, else the string."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def key_values(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=str(k), value=_text(v)) for k, v in values.items()]


def values_of(msg: DiagnosticStatus) -> dict[str, Any]:
    """The key/values of a status, typed back (see _parse)."""
    return {kv.key: _parse(kv.value) for kv in msg.values}


# ---- simulator task status ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSample:
    """A task status as received: the task's TaskStatus plus the simulated robot's mode and counters."""

    status: TaskStatus
    robot_mode: str = ""
    robot_counters: dict[str, int] = field(default_factory=dict)
    sim_time: float | None = None  # absolute simulation time of the sample (the images' stamps use it)

    @property
    def episode_origin(self) -> float | None:
        """Absolute simulation time of the episode's reset."""
        return None if self.sim_time is None else self.sim_time - self.status.episode_time


def task_status_to_msg(status: TaskStatus, robot: Mapping[str, Any] | None = None) -> DiagnosticStatus:
    """`robot`: SimRobot.robot_status() (mode, sim_time, counters), optional."""
    values: dict[str, Any] = {"task": status.task, "instruction": status.instruction, "seed": status.seed,
                              "success": bool(status.success), "episode_time": float(status.episode_time)}
    values.update({f"metric.{k}": v for k, v in sorted(status.metrics.items())})
    if robot:
        values["robot.mode"] = robot.get("mode", "")
        if "sim_time" in robot:
            values["robot.sim_time"] = float(robot["sim_time"])
        values.update({f"robot.counters.{k}": v for k, v in sorted(robot.get("counters", {}).items())})
    metrics = " ".join(f"{k}={v}" for k, v in sorted(status.metrics.items()))
    line = (f"{status.task} seed {status.seed} t={status.episode_time:.2f} s "
            f"{'SUCCESS' if status.success else 'not yet'} {metrics}").strip()
    return DiagnosticStatus(level=OK, name=TASK_STATUS_NAME, message=line, hardware_id="sim_robot",
                            values=key_values(values))


def task_status_from_msg(msg: DiagnosticStatus) -> TaskSample:
    """Inverse of task_status_to_msg; raises ValueError naming what is missing."""
    if msg.name != TASK_STATUS_NAME:
        raise ValueError(f"not a task status: name {msg.name!r}, expected {TASK_STATUS_NAME!r}")
    values = {kv.key: kv.value for kv in msg.values}
    missing = [k for k in ("task", "instruction", "seed", "success", "episode_time") if k not in values]
    if missing:
        raise ValueError(f"task status lacks the keys {missing}")
    metrics = {k.removeprefix("metric."): _parse(v) for k, v in values.items() if k.startswith("metric.")}
    counters = {k.removeprefix("robot.counters."): _parse(v) for k, v in values.items()
                if k.startswith("robot.counters.")}
    status = TaskStatus(task=values["task"], instruction=values["instruction"], seed=int(values["seed"]),
                        success=values["success"] == "true", episode_time=float(values["episode_time"]),
                        metrics=metrics)
    sim_time = float(values["robot.sim_time"]) if "robot.sim_time" in values else None
    return TaskSample(status, values.get("robot.mode", ""), counters, sim_time)


# ---- policy state -------------------------------------------------------------------------------------------------
def policy_status_msg(values: Mapping[str, Any], level: bytes, message: str) -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=POLICY_STATUS_NAME, message=message, hardware_id="policy",
                            values=key_values(values))


# ---- executor state ------------------------------------------------------------------------------------------------
EXECUTOR_STATE_TYPE = DiagnosticStatus
EXECUTOR_STATE_NAME = "executor: state"


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys ({"tick": {"ticks": 3}} -> {"tick.ticks": 3}); None values left out, so a
    reader's .get() still says "not set"; lists and tuples as comma-separated text."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[name] = ",".join(_text(v) for v in value)
        elif value is not None:
            flat[name] = value
    return flat


def executor_state_msg(state: Mapping[str, Any], level: bytes, message: str) -> DiagnosticStatus:
    """The executor's state dict (nested: tick timing, LowState gate counts, ...) as a DiagnosticStatus."""
    return DiagnosticStatus(level=level, name=EXECUTOR_STATE_NAME, message=message, hardware_id="unitree_g1",
                            values=key_values(_flatten(state)))


def executor_state(msg: DiagnosticStatus) -> dict[str, Any]:
    """The executor's state dict back from its message (dotted keys nested again, values typed by _parse);
    a status of another name gives {"mode": "?"}."""
    if not isinstance(msg, DiagnosticStatus) or msg.name != EXECUTOR_STATE_NAME:
        return {"mode": "?"}
    return _nested(msg)


def recorder_status_msg(status: Mapping[str, Any]) -> DiagnosticStatus:
    """The recorder's status dict (data/recorder.py `status()`, nested: per-topic counts) as a DiagnosticStatus:
    ERROR while its last error stands (disk full, writer failure), else OK; `message` says what it is doing."""
    if status.get("state") == "recording":
        line = f"recording episode {status.get('episode_index')} ({status.get('episodes', 0)} on disk)"
    else:
        line = f"idle ({status.get('episodes', 0)} episodes on disk)"
    error = status.get("last_error") or ""
    return DiagnosticStatus(level=ERROR if error else OK, name=RECORDER_STATUS_NAME,
                            message=f"{line}: {error}" if error else line, hardware_id="recorder",
                            values=key_values(_flatten(status)))


def recorder_status(msg: DiagnosticStatus) -> dict[str, Any]:
    """The recorder's status dict back from its message; a status of another name gives {"state": "?"}."""
    if not isinstance(msg, DiagnosticStatus) or msg.name != RECORDER_STATUS_NAME:
        return {"state": "?"}
    return _nested(msg)


def _nested(msg: DiagnosticStatus) -> dict[str, Any]:
    """Dotted keys nested again ({"tick.ticks": 3} -> {"tick": {"ticks": 3}}), values typed by _parse."""
    state: dict[str, Any] = {}
    for key, value in values_of(msg).items():
        *parents, leaf = key.split(".")
        node = state
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # a scalar and a group of one name: keep the scalar
                break
            node = child
        else:
            node[leaf] = value
    return state
