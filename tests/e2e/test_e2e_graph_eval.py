"""Graph evaluation: seeded episodes through `dit4dit run` (reset, enable, task status, video)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dit4dit_ros.evaluation.graph import evaluate_graph, graph_parameters

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
    # repeatable episodes: held after each reset, physics stepped by the executor's answers, the policy's state of the
    # frame's time and its noise from the observation
    assert sim["hold_after_reset"] is True and sim["command_stepped"] is True
    assert data["executor"]["ros__parameters"]["command_echo"] is True
    assert data["executor"]["ros__parameters"]["clock"] == "ros"
    assert data["policy"]["ros__parameters"]["noise_seed"] == 0
    assert data["policy"]["ros__parameters"]["state_at_frame"] is True
    assert data["g1_state"]["ros__parameters"]["publish_rate"] == sim["state_rate_hz"] == 500.0  # every state
    assert data["policy"]["ros__parameters"]["blind"] is True
    assert data["policy"]["ros__parameters"]["num_threads"] == 0  # the YAML's (torch's default)
    threads = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), tiny_checkpoint, "reach", 0, (32, 32), 2.5,
                               False, num_threads=1)
    assert threads["policy"]["ros__parameters"]["num_threads"] == 1
    assert "scene_camera_enabled" not in threads["sim_robot"]["ros__parameters"]
    scene = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), tiny_checkpoint, "reach", 0, (32, 32), 2.5,
                             False, scene_camera=True)
    assert scene["sim_robot"]["ros__parameters"]["scene_camera_enabled"] is True
    assert "robot_state" not in scene  # evaluation reads /joint_states itself
    assert "hands" not in data["executor"]["ros__parameters"]  # reach: the rubber hands, nothing on rt/dex3
    pick = graph_parameters(Path(repo_root, "config", "g1_sim.yaml"), tiny_checkpoint, "pick_place", 0, (32, 32), 2.5,
                            False)
    assert pick["sim_robot"]["ros__parameters"]["task"] == "pick_place"
    assert pick["executor"]["ros__parameters"]["hands"] == pick["g1_state"]["ros__parameters"]["hands"] == "dex3"
    with pytest.raises(ValueError, match="no sim_robot section"):
        graph_parameters(Path(repo_root, "config", "g1_real.yaml"), tiny_checkpoint, "reach", 0, (32, 32), 2.5, False)


def test_two_seeded_episodes_through_the_graph(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="consecutive seeds"):
        evaluate_graph(tiny_checkpoint, seeds=[3, 5])
    video = tmp_path / "rollout.mp4"
    import argparse

    from dit4dit_ros.evaluation.commands import add_eval_arguments, run_evaluation
    from dit4dit_ros.evaluation.report import write_report

    # through the `dit4dit eval` entry point (its own parser, so the test sees every option's default), which must
    # forward the node logs and the policy's threads
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    args = parser.parse_args([
        "--checkpoint", str(tiny_checkpoint), "--episodes", "2", "--seed", "7", "--mode", "graph",
        "--duration", "1.0", "--video", str(video), "--video-episodes", "2", "--report", str(tmp_path / "report"),
        "--rrd", str(tmp_path / "eval.rrd"), "--log-dir", str(tmp_path / "logs"), "--threads", "1"])
    result = run_evaluation(args)
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

    # the video: the simulator's scene view (10 Hz of simulation time) beside the ego view, per episode and combined
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    per_episode = []
    for e in result.episodes:
        assert e.video and Path(e.video).is_file()
        with av.open(e.video) as container:
            per_episode.append(sum(1 for _ in container.decode(video=0)))
        assert per_episode[-1] >= 10 * (e.episode_time - 0.3), (per_episode, e.episode_time)  # >= 10 fps of sim time
        assert len(e.inference_trace) >= 1 and all(x > 0 for x in e.inference_trace)
        # one trace per chunk; lock-step pairs every frame with the joint state of its own instant
        assert len(e.chunk_trace) == len(e.inference_trace), e.chunk_trace
        stamps = [c["chunk_stamp"] for c in e.chunk_trace]
        assert stamps == sorted(set(stamps)), stamps
        assert all(abs(c["state_skew_ms"]) < 1e-3 and len(c["input_digest"]) == 12 for c in e.chunk_trace), e.chunk_trace
    assert frames == sum(per_episode)
    # the graph's own figures at the end of the run, kept in the result: chunks reached the executor with both DDS
    # stamps (all of the first episode's, at least, by then), and the simulator stepped by the executor's answers
    executor, simulator = result.runtime["executor"], result.runtime["simulator"]
    delivery = executor["chunk_delivery"]
    assert delivery["chunks"] >= len(result.episodes[0].chunk_trace) and delivery["unstamped"] == 0, delivery
    assert simulator["command_steps"] > 0 and executor["tick"]["ticks"] > 0, result.runtime
    assert result.to_dict()["runtime"] == result.runtime
    report = write_report(result, tmp_path / "report")
    html = report.read_text()
    assert "seed_7.mp4" in html and "eval.rrd" in html and "Wilson" in html
    from dit4dit_ros.evaluation.recording import recording_summary

    summary = recording_summary(tmp_path / "eval.rrd")
    assert any(p.startswith("/world/g1/") for p in summary.entities), sorted(summary.entities)[:20]


def test_an_episode_repeats_exactly_beside_two_busy_processes(tiny_checkpoint, tmp_path):
    """Issue 13.7: lock-step must not turn CPU starvation into other outcomes. The same seed through the graph, on
    this machine as it is and with two busy processes beside it: the same task-status trace (simulation time and
    distance at every status), so the same success, distance and episode time."""
    import subprocess
    import sys

    def episode(log_dir: Path):
        result = evaluate_graph(tiny_checkpoint, seeds=[11], duration=1.5, log_dir=log_dir)
        e = result.episodes[0]
        return e.min_distance, e.episode_time, e.policy_start_time, e.success, list(e.distance_trace)

    idle = episode(tmp_path / "idle")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        busy = episode(tmp_path / "busy")
    finally:
        for h in hogs:
            h.kill()
            h.wait(10)
    print(f"idle {idle[:4]}, busy {busy[:4]}, {len(idle[4])} task statuses")
    assert len(idle[4]) >= 5 and idle[2] is not None
    assert idle == busy
