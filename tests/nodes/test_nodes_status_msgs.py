"""Typed status messages: the simulator's task status and the policy state as diagnostic key/values."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from dit4dit_ros.nodes.status_msgs import (EXECUTOR_STATE_NAME, POLICY_STATUS_NAME, TASK_STATUS_NAME, WARN, executor_state,
                                          executor_state_msg, policy_status_msg,
                                           task_status_from_msg, task_status_to_msg, values_of)
from dit4dit_ros.sim.tasks import TaskStatus


def test_task_status_round_trips_through_key_values():
    status = TaskStatus("reach", "touch the red cube with the right hand", 100003, True, 1.234567,
                        {"hand_cube_distance": 0.0412, "cube_resting": True})
    robot = {"mode": "balance", "sim_time": 12.5, "counters": {"bad_crc": 0, "applied": 1234}}
    msg = task_status_to_msg(status, robot)
    assert msg.name == TASK_STATUS_NAME and "seed 100003" in msg.message and "SUCCESS" in msg.message
    keys = {kv.key: kv.value for kv in msg.values}
    assert keys["success"] == "true" and keys["metric.hand_cube_distance"] == "0.0412"
    assert keys["robot.counters.applied"] == "1234" and keys["robot.mode"] == "balance"
    back = task_status_from_msg(msg)
    assert back.status == status
    assert back.robot_mode == "balance" and back.robot_counters == {"bad_crc": 0, "applied": 1234}
    assert back.sim_time == 12.5 and back.episode_origin == pytest.approx(12.5 - 1.234567)
    assert task_status_from_msg(task_status_to_msg(status)).sim_time is None


def test_bad_task_status_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="not a task status"):
        task_status_from_msg(DiagnosticStatus(name="something else"))
    partial = DiagnosticStatus(name=TASK_STATUS_NAME, values=[KeyValue(key="task", value="reach")])
    with pytest.raises(ValueError, match=r"lacks the keys \['instruction', 'seed', 'success', 'episode_time'\]"):
        task_status_from_msg(partial)


def test_policy_status_values_are_typed_back():
    msg = policy_status_msg({"chunks": 12, "inference_ms": 81.5, "last_skip_reason": "", "instruction": "go"}, WARN, "x")
    assert msg.name == POLICY_STATUS_NAME and msg.level == WARN
    assert values_of(msg) == {"chunks": 12, "inference_ms": 81.5, "last_skip_reason": "", "instruction": "go"}


def test_executor_state_round_trips_its_nested_dict():
    state = {"mode": "RUNNING", "commands_sent": 10, "estop_latched_tick": None, "mode_reason": "soft start complete",
             "tick": {"ticks": 5000, "late_p99": 0.0021, "overruns": 0},
             "lowstate": {"valid": 4990, "bad_crc": 0}, "alarm_joints": ["left_elbow_joint", "right_elbow_joint"]}
    msg = executor_state_msg(state, WARN, "RUNNING")
    assert msg.name == EXECUTOR_STATE_NAME and msg.level == WARN and msg.message == "RUNNING"
    keys = {kv.key for kv in msg.values}
    assert {"tick.ticks", "tick.late_p99", "lowstate.bad_crc"} <= keys and "estop_latched_tick" not in keys
    back = executor_state(msg)
    expected = {k: v for k, v in state.items() if v is not None}
    expected["alarm_joints"] = "left_elbow_joint,right_elbow_joint"
    assert back == expected
    assert back.get("estop_latched_tick") is None  # "not yet" reads back as absent, not as an empty string


def test_executor_state_refuses_other_statuses():
    other = DiagnosticStatus(name="policy: state", values=[KeyValue(key="mode", value="RUNNING")])
    assert executor_state(other) == {"mode": "?"}


def test_recorder_status_round_trips_and_an_error_is_an_error_level():
    from dit4dit_ros.nodes.status_msgs import ERROR, OK, recorder_status, recorder_status_msg

    status = {"state": "recording", "output_dir": "/data/bags", "episode_index": 3, "last_finished": None,
              "queued_mb": 1.25, "last_error": "", "received": {"/camera/ego/image_raw": 40, "/joint_states": 400},
              "dropped": {}, "instruction": "pick up the red block", "success": None, "episodes": 4,
              "next_instruction": "pick up the red block"}
    msg = recorder_status_msg(status)
    assert msg.level == OK and msg.message == "recording episode 3 (4 on disk)"
    back = recorder_status(msg)
    assert back["received"] == {"/camera/ego/image_raw": 40, "/joint_states": 400}
    assert back["episode_index"] == 3 and back["queued_mb"] == 1.25 and back["instruction"] == "pick up the red block"
    assert "last_finished" not in back and "success" not in back  # None: not set
    failed = recorder_status_msg({**status, "state": "idle", "last_error": "disk full: 12 MB free"})
    assert failed.level == ERROR and failed.message == "idle (4 episodes on disk): disk full: 12 MB free"
    assert recorder_status(DiagnosticStatus(name="executor: state")) == {"state": "?"}
