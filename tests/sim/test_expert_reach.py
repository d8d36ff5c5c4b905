"""The scripted reach expert: minimum-jerk profile, trajectory interpolation, IK + gravity compensation, and
closed-loop success in the simulator through the same executor path a policy uses."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.demo.runner import RunnerConfig, SimEpisodeRunner
from dit4dit_ros.sim.expert import ExpertConfig, JointTrajectory, min_jerk
from dit4dit_ros.sim.experts import make_expert


def test_min_jerk_profile_boundaries_and_symmetry():
    s = np.linspace(0, 1, 101)
    y = min_jerk(s)
    assert y[0] == 0.0 and y[-1] == 1.0
    assert np.all(np.diff(y) >= 0)
    assert np.allclose(y + y[::-1], 1.0)  # point-symmetric about s = 0.5
    dy = np.gradient(y, s)
    assert abs(dy[0]) < 1e-3 and abs(dy[-1]) < 1e-3  # starts and ends at rest
    assert min_jerk(-1.0) == 0.0 and min_jerk(2.0) == 1.0


def test_joint_trajectory_hits_waypoints_and_holds():
    traj = JointTrajectory(np.array([0.0, 1.0, 3.0]), np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 0.0]]))
    assert np.allclose(traj(1.0), [1.0, -1.0])
    assert np.allclose(traj(0.5), [0.5, -0.5])  # min-jerk is symmetric: half way at half time
    assert np.allclose(traj(10.0), [2.0, 0.0])  # holds after the last waypoint
    assert traj(np.array([0.0, 3.0])).shape == (2, 2)
    with pytest.raises(ValueError, match="increase strictly"):
        JointTrajectory(np.array([0.0, 0.0]), np.zeros((2, 2)))


def test_expert_config_rejects_bad_heights():
    with pytest.raises(ValueError, match="touch_height"):
        ExpertConfig(touch_height=0.2, approach_height=0.1)


def test_unknown_task_has_no_expert():
    with pytest.raises(ValueError, match="no scripted expert"):
        make_expert("juggle", robot=None)


def _run(runner: SimEpisodeRunner, seed: int) -> tuple[bool, float]:
    obs = runner.reset(seed)
    expert = make_expert("reach", runner.robot)
    best = np.inf
    for _ in range(int(round(expert.duration * runner.config.fps))):
        assert runner.submit(expert.command(obs.time + runner.period * np.arange(16)))
        obs = runner.advance()
        best = min(best, obs.status.metrics["hand_cube_distance"])
    return bool(obs.status.success), best


@pytest.fixture(scope="module")
def blind_runner():
    runner = SimEpisodeRunner(RunnerConfig(render=False))
    yield runner
    runner.close()


def test_expert_plan_is_gravity_compensated(blind_runner):
    blind_runner.reset(7)
    expert = make_expert("reach", blind_runner.robot)
    planned, sent = expert.planned(expert.duration), expert.command(expert.duration)
    # The command differs from the IK posture by g(q)/kp (the arms are not weightless) ...
    assert np.max(np.abs(sent - planned)) > 0.01
    # ... and the IK posture puts the palm on the touch point.
    assert np.allclose(expert._palm(planned), expert.touch_target, atol=2e-3)


def test_expert_succeeds_on_a_few_seeds(blind_runner):
    for seed in (0, 1, 2):
        success, best = _run(blind_runner, seed)
        assert success, f"seed {seed}: expert ended {best:.3f} m from the cube"


@pytest.mark.slow
def test_expert_succeeds_on_95_percent_of_20_seeds(blind_runner):
    results = [_run(blind_runner, seed) for seed in range(500, 520)]
    successes = sum(ok for ok, _ in results)
    assert successes >= 19, f"expert succeeded on {successes}/20 seeds: {results}"


def test_joint_perturbation_is_a_stationary_smooth_process():
    from dit4dit_ros.demo.collect import JointPerturbation

    noise = JointPerturbation(14, std=0.05, tau=0.3, period=0.1, rng=np.random.default_rng(0))
    x = np.stack([noise.step() for _ in range(4000)])
    assert abs(x.std() - 0.05) < 0.005  # stationary std
    lag1 = np.mean([np.corrcoef(x[:-1, j], x[1:, j])[0, 1] for j in range(14)])
    assert abs(lag1 - np.exp(-0.1 / 0.3)) < 0.05  # correlated over tau, not white
    assert not JointPerturbation(3, std=0.0, tau=0.3, period=0.1, rng=np.random.default_rng(0)).step().any()
    with pytest.raises(ValueError, match="tau > 0"):
        JointPerturbation(3, std=0.1, tau=0.0, period=0.1, rng=np.random.default_rng(0))


def test_perturbed_episode_records_the_clean_plan_from_off_path_states(blind_runner):
    """DART: the arm is pushed off the path (states differ) but the recorded actions are the clean expert plan
    (identical to an unperturbed run of the same seed), and the noise fades so the episode still succeeds."""
    from dit4dit_ros.demo.collect import run_expert_episode

    clean = run_expert_episode(blind_runner, 11)
    noisy = run_expert_episode(blind_runner, 11, perturb=0.08)
    assert np.allclose(noisy.action, clean.action, atol=1e-9)
    off_path = np.abs(noisy.state - clean.state).max(axis=1)
    assert off_path[5:20].mean() > 0.02  # radians, mid-reach
    assert noisy.success, f"perturbed expert ended {noisy.min_distance:.3f} m from the cube"


def test_collect_rejects_negative_perturbation_before_writing(tmp_path):
    from dit4dit_ros.demo.collect import collect

    with pytest.raises(ValueError, match="perturb must be >= 0"):
        collect(tmp_path / "ds", episodes=1, perturb=-0.1)
    assert not (tmp_path / "ds").exists()
