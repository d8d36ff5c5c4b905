"""Graph evaluation: seeded episodes through `dit4dit run` (reset, enable, task status, video)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dit4dit_ros.bringup.graph_eval import evaluate_graph, graph_parameters

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]
INSTRUCTION = "touch the red cube with the right hand"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from dit4dit_ros.bringup.bench_loop import make_random_checkpoint

    torch.manual_seed(0)
    return make_random_checkpoint("tiny", INSTRUCTION, tmp_path_factory.mktemp("graph_eval_ckpt"))


def test_graph_parameters_set_task_seed_camera_and_checkpoint(repo_root, tiny_checkpoint):
    data = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), tiny_checkpoint, "reach", 500, (32, 48), 2.5, True)
    sim = data["sim_robot"]["ros__parameters"]
    assert sim["seed"] == 499 and sim["task"] == "reach" and (sim["camera_height"], sim["camera_width"]) == (32, 48)
    assert sim["lockstep"] is True and sim["camera_rate_hz"] == 2.5
    assert data["policy"]["ros__parameters"]["blind"] is True
    assert data["policy"]["ros__parameters"]["num_threads"] == 0  # the YAML's (torch's default)
    threads = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), tiny_checkpoint, "reach", 0, (32, 32), 2.5,
                               False, num_threads=1)
    assert threads["policy"]["ros__parameters"]["num_threads"] == 1
    with pytest.raises(ValueError, match="no sim_robot section"):
        graph_parameters(Path(repo_root, "config", "g1_real.yaml"), tiny_checkpoint, "reach", 0, (32, 32), 2.5, False)


def test_two_seeded_episodes_through_the_graph(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="consecutive seeds"):
        evaluate_graph(tiny_checkpoint, seeds=[3, 5])
    video = tmp_path / "rollout.mp4"
    from dit4dit_ros.demo.evaluate import evaluate_graph as evaluate_graph_via_demo

    # through the `dit4dit eval` entry point, which must forward the node logs and the policy's threads
    result = evaluate_graph_via_demo(tiny_checkpoint, seeds=[7, 8], duration=1.0, video_path=video,
                                     log_dir=tmp_path / "logs", num_threads=1)
    assert {"sim_robot.log", "policy.log", "executor.log"} <= {f.name for f in (tmp_path / "logs").iterdir()}
    assert [e.seed for e in result.episodes] == [7, 8]
    for e in result.episodes:
        assert np.isfinite(e.min_distance) and e.min_distance > 0 and e.frames >= 1
        # the policy gets `duration` of control: the executor's soft start (chunks refused) is not counted
        assert e.policy_start_time is not None and e.policy_start_time > 0.5
        if not e.success:
            assert e.episode_time >= e.policy_start_time + 1.0 - 0.25  # task status samples
    assert 0.0 <= result.rate <= 1.0
    lo, hi = result.interval
    assert 0.0 <= lo <= result.rate <= hi <= 1.0
    import av

    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == sum(e.frames for e in result.episodes)
