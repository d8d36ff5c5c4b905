"""Direct evaluation and demonstration collection drive the graph's plant: the in-process runner's executor is the
one the graph's executor node runs for the same task (deployment file and task adaptation), and it holds the
waist with the executor's gravity feed-forward, not with offset targets of its own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dit4dit_ros.control.executor_params import defaults, executor_config, executor_config_from_file
from dit4dit_ros.config import ParameterFileError
from dit4dit_ros.demo.runner import ARM_SDK_JOINTS, WAIST_INDICES, RunnerConfig, SimEpisodeRunner
from dit4dit_ros.evaluation.graph import graph_parameters
from dit4dit_ros.g1.joints import ARMS, WAIST


def _graph_executor(repo_root, tmp_path, task: str):
    """The ExecutorConfig the graph's executor node builds for `task` (its section of the adapted YAML)."""
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir(exist_ok=True)
    params = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), checkpoint, task, 0, (64, 64), 2.5, False)
    merged = defaults()
    merged.update(params["executor"]["ros__parameters"])
    return executor_config(merged)


@pytest.mark.parametrize("task", ["reach", "pick_place"])
def test_the_runner_runs_the_graph_executor_of_the_task(repo_root, tmp_path, task):
    runner = RunnerConfig(task=task, render=False)
    graph = _graph_executor(repo_root, tmp_path, task)
    assert runner.executor == graph
    assert runner.settle_time >= runner.executor.soft_start_time
    expected_gravity = WAIST if task == "reach" else ARM_SDK_JOINTS  # hands: the chunks are the poses themselves
    assert tuple(runner.executor.gravity_joints) == expected_gravity and runner.executor.gravity_compensation


def test_the_waist_is_held_by_feed_forward_at_its_hold_pose():
    runner = SimEpisodeRunner(RunnerConfig(render=False))
    obs = runner.reset(7)
    # an arm reaching forward: the old runner moved the waist target to hold + g/kp; now the target is the hold
    chunk = np.tile(obs.arm_q, (16, 1))
    chunk[:, ARMS.index("right_shoulder_pitch_joint")] -= 0.8
    assert runner.submit(chunk)
    for _ in range(12):
        runner.advance()
    q_des, _, _, _, tau = runner.robot.targets()  # what the motors run now (arm_sdk weight 1: the executor's)
    hold = runner.robot.hold_q[WAIST_INDICES]
    np.testing.assert_allclose(q_des[WAIST_INDICES], hold, atol=1e-6)
    assert np.abs(tau[WAIST_INDICES]).max() > 0.5  # the feed-forward carries the torso
    np.testing.assert_allclose(runner.robot.state().q[WAIST_INDICES], hold, atol=0.05)


def test_a_deployment_file_with_a_bad_executor_key_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("executor:\n  ros__parameters:\n    max_velocty: 3.0\n")
    with pytest.raises(ParameterFileError, match="max_velocty"):
        executor_config_from_file(bad)
    with pytest.raises(ParameterFileError, match="max_velocty"):
        RunnerConfig(render=False, deployment=bad)


def test_a_runner_executor_that_does_not_speak_arm_sdk_is_refused(tmp_path):
    lowcmd = tmp_path / "lowcmd.yaml"
    lowcmd.write_text("executor:\n  ros__parameters:\n    control_path: lowcmd\n")
    with pytest.raises(ValueError, match="rt/arm_sdk"):
        RunnerConfig(render=False, deployment=lowcmd)


def test_the_evaluation_simulator_waits_for_every_answer_longer_than_an_interactive_one(repo_root, tmp_path):
    """Graph evaluation: command-stepped lock-step whose wait for the executor's answer outlasts a slow chunk on a
    loaded 2-core machine (the node default steps on after 0.2 s, which made runs of the same seeds part by load),
    and is still bounded and valid for the simulator's own parameter checks."""
    from dit4dit_ros.evaluation.graph import EVAL_COMMAND_STEP_TIMEOUT_S
    from dit4dit_ros.sim.dds_bridge import BridgeConfig
    from dit4dit_ros.utils.param_fields import param_specs

    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    sim = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), checkpoint, "reach", 0, (64, 64), 2.5,
                           False)["sim_robot"]["ros__parameters"]
    assert sim["lockstep"] and sim["command_stepped"] and sim["hold_after_reset"]
    assert sim["command_step_timeout"] == EVAL_COMMAND_STEP_TIMEOUT_S > BridgeConfig().command_step_timeout
    spec = next(s for s in param_specs(BridgeConfig) if s.name == "command_step_timeout")
    assert spec.minimum <= sim["command_step_timeout"] <= spec.maximum  # the simulator node would accept it
