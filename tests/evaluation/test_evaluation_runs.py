"""Evaluation: the success rule, the Wilson interval, direct rollouts (video, blind baseline), the graph runner's
input checks, and the shipped checkpoint on two held-out seeds (when present)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dit4dit_ros.evaluation.direct import evaluate_direct
from dit4dit_ros.evaluation.graph import evaluate_graph
from dit4dit_ros.evaluation.results import EpisodeResult, EvalResult, wilson_interval

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "g1_reach_small"


# ---- Wilson interval -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,n,lo,hi", [
    (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (18, 20, 0.6990, 0.9721),
    (1, 1, 0.2065, 1.0),
])
def test_wilson_interval_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_interval_contains_the_rate_and_narrows_with_n():
    for n in (5, 20, 100):
        for k in range(0, n + 1, max(1, n // 5)):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert np.diff(wilson_interval(80, 100)) < np.diff(wilson_interval(8, 10))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_success_hold_needs_an_unbroken_run_of_hold_time():
    from dit4dit_ros.evaluation.results import SuccessHold

    samples = [i / 10 for i in range(20)]  # 10 Hz status
    hold = SuccessHold(0.5)
    # 5 successes (0.4 s from first to last), a break, then 6 (0.5 s): the episode succeeds at the second run.
    pattern = [False] * 3 + [True] * 5 + [False] + [True] * 6 + [False] * 5
    verdicts = [hold.update(t, ok) for t, ok in zip(samples, pattern)]
    assert verdicts.index(True) == 14 and all(verdicts[14:])  # and it stays a success after the run ends
    assert hold.first == pytest.approx(0.9)
    never = SuccessHold(0.5)
    assert not any(never.update(t, ok) for t, ok in zip(samples, [True, False] * 10))
    with pytest.raises(ValueError, match="hold_time"):
        SuccessHold(-0.1)


def test_eval_result_summary_reports_rate_and_interval():
    eps = [EpisodeResult(s, s % 2 == 0, s % 2 == 0, 0.03, 0.03, 50, 1.0, 0.1) for s in range(4)]
    r = EvalResult("reach", "direct", False, "ckpt", eps)
    assert r.rate == 0.5 and r.successes == 2
    assert r.to_dict()["wilson95"] == pytest.approx(list(wilson_interval(2, 4)))
    assert "2/4" in r.summary()


def test_a_graph_result_says_how_the_graph_fared_and_a_direct_one_says_nothing():
    direct = EvalResult("reach", "direct", False, "ckpt")
    assert direct.runtime_summary() == "" and direct.to_dict()["runtime"] == {}
    graph = EvalResult("reach", "graph", False, "ckpt", runtime={
        "executor": {"chunk_delivery": {"chunks": 40, "unstamped": 0, "slow": 3, "transport_p50_ms": 0.8,
                                        "transport_max_ms": 2.0, "queue_p50_ms": 4.0, "queue_max_ms": 260.0,
                                        "handoff_p50_ms": 0.2, "handoff_max_ms": 1.5},
                     "tick": {"period_p99": 0.0021, "period_max": 0.004}},
        "simulator": {"command_steps": 995, "command_step_timeouts": 5}})
    line = graph.runtime_summary()
    assert "queue 4.0/260.0" in line and "3 of 40 slower than 50 ms" in line, line
    assert "p99/max 2.10/4.00 ms" in line and "run out: 5 of 1000" in line, line


def test_direct_eval_runs_rollouts_and_writes_video(tiny_engine, tmp_path):
    """The rollout video shows the scene view beside the ego view at the control rate (10 fps), every frame of the
    episode including the final state; rendering the scene view does not change the rollout."""
    import av

    from dit4dit_ros.evaluation.observers import VideoObserver
    from dit4dit_ros.evaluation.video import BAND_HEIGHT, SCENE_SIZE, RolloutVideos

    video = tmp_path / "rollout.mp4"
    observer = VideoObserver(RolloutVideos(10, video, tmp_path / "videos", episodes=1))
    tiny_engine.generator.manual_seed(0)  # the engine's noise continues across runs: start both runs alike
    result = evaluate_direct("<tiny>", seeds=[100000], engine=tiny_engine, duration=1.0, observers=[observer],
                             scene_episodes=1)
    assert len(result.episodes) == 1
    ep = result.episodes[0]
    assert ep.frames == 10 and math.isfinite(ep.min_distance) and ep.inference_seconds > 0
    assert 0.0 <= result.rate <= 1.0
    assert len(ep.distance_trace) == 11 and len(ep.inference_trace) == 3  # frames 0..10; replans at 0, 4, 8
    assert ep.video == str(tmp_path / "videos" / "seed_100000.mp4")
    for path in (video, ep.video):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert float(stream.average_rate) == 10
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(decoded) == 11  # frame 0 (reset) .. frame 10 (final state)
    frame = decoded[0]
    assert frame.shape == (SCENE_SIZE[0] + BAND_HEIGHT, SCENE_SIZE[1] + SCENE_SIZE[0], 3)
    assert frame[:SCENE_SIZE[0], :SCENE_SIZE[1]].std() > 10  # the scene view
    assert frame[:SCENE_SIZE[0], SCENE_SIZE[1]:].std() > 10  # the ego view
    assert frame[SCENE_SIZE[0] + 5:].max() > 150  # text in the band
    tiny_engine.generator.manual_seed(0)
    plain = evaluate_direct("<tiny>", seeds=[100000], engine=tiny_engine, duration=1.0)
    assert [e.min_distance for e in plain.episodes] == [ep.min_distance]
    assert plain.episodes[0].distance_trace == ep.distance_trace


def test_blind_eval_uses_the_same_seeds(tiny_engine):
    result = evaluate_direct("<tiny>", seeds=[100001], engine=tiny_engine, duration=0.4, blind=True)
    assert result.blind and result.episodes[0].seed == 100001 and "BLIND" in result.summary()


def test_direct_eval_rejects_bad_replan_period(tiny_engine):
    with pytest.raises(ValueError, match="replan_every"):
        evaluate_direct("<tiny>", seeds=[0], engine=tiny_engine, replan_every=0)


def test_graph_eval_checks_its_inputs_before_starting_the_graph():
    """`eval --mode graph` runs evaluation/graph.py (the full run is tests/e2e/test_e2e_graph_eval.py)."""
    with pytest.raises(ValueError, match="consecutive seeds"):
        evaluate_graph("ckpt", seeds=[0, 2], config=REPO / "config" / "g1_sim.yaml")


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped checkpoint in models/")
def test_shipped_checkpoint_reaches_on_held_out_seeds_and_needs_the_image():
    """The shipped policy (18/20 direct on seeds 100000..100019, see its model card) touches the cube on two
    held-out seeds; the same model with a constant image ends farther from the cube on the same seeds."""
    seeds = [100000, 100004]
    seeing = evaluate_direct(SHIPPED, seeds=seeds)
    blind = evaluate_direct(SHIPPED, seeds=seeds, blind=True)
    assert [e.seed for e in seeing.episodes] == seeds == [e.seed for e in blind.episodes]
    assert seeing.successes == 2, [(e.seed, round(e.min_distance, 3)) for e in seeing.episodes]
    assert sum(e.min_distance for e in blind.episodes) > sum(e.min_distance for e in seeing.episodes) + 0.05




PICK_PLACE = REPO / "models" / "g1_pick_place_small"


@pytest.mark.skipif(not (PICK_PLACE / "model.safetensors").is_file(), reason="no shipped pick_place checkpoint")
def test_shipped_pick_place_checkpoint_drives_arms_and_grippers_in_its_scene():
    """The pick_place checkpoint (below its acceptance bar: 1/20 graph, 0/20 direct, see its model card) is a
    working artifact of the stack: arms + gripper layout at the dataset's 10 fps, its one instruction and no other,
    and an in-process rollout in the Dex3-1 scene in which the policy's chunks move the right arm."""
    from dit4dit_ros.demo.runner import ARMS_AND_GRIPPERS
    from dit4dit_ros.engine.torch_engine import TorchEngine
    from dit4dit_ros.model.prompt_cache import UnknownInstructionError
    from dit4dit_ros.sim.tasks import PickPlaceTask

    engine = TorchEngine(str(PICK_PLACE), device="cpu", seed=0)
    assert tuple(engine.state_joint_names) == tuple(engine.action_joint_names) == tuple(ARMS_AND_GRIPPERS)
    assert engine.control_period == pytest.approx(0.1)
    assert list(engine.instructions) == [PickPlaceTask.instruction]
    with pytest.raises(UnknownInstructionError):
        engine.text_kv("touch the red cube with the right hand")

    class Joints:
        def start_episode(self, index, seed, instruction):
            self.first, self.last = None, None

        def observe(self, sample):
            if sample.joints:
                self.first = self.first or dict(sample.joints)
                self.last = dict(sample.joints)

        def end_episode(self, result):
            pass

        def close(self):
            pass

    joints = Joints()
    result = evaluate_direct(PICK_PLACE, task="pick_place", seeds=[100000], duration=3.0, engine=engine,
                             observers=[joints])
    assert result.task == "pick_place" and len(result.episodes) == 1
    moved = {n: abs(joints.last[n] - joints.first[n]) for n in joints.first}
    right_arm = [n for n in ARMS_AND_GRIPPERS if n.startswith("right_") and n.endswith("_joint")]
    assert max(moved[n] for n in right_arm) > 0.1, moved  # the policy's chunks move the arm it grasps with
