"""What an evaluation leaves behind: composed video frames, the HTML report, the Rerun recording of the episodes."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.evaluation.results import EpisodeResult, EvalResult
from dit4dit_ros.evaluation.video import BAND_HEIGHT, SCENE_SIZE, Overlay, RolloutVideos, compose_frame


def _result(tmp_path, with_video: bool = True) -> EvalResult:
    episodes = []
    for k, seed in enumerate((100000, 100001, 100002)):
        trace = [(round(0.1 * i, 1), 0.3 - 0.05 * i * (k + 1) / 3) for i in range(20)]
        video = None
        if with_video and k == 0:
            video = tmp_path / "videos" / f"seed_{seed}.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(b"not a real video: the report only links it")
        episodes.append(EpisodeResult(seed, k != 1, k != 1, min(d for _, d in trace), trace[-1][1], 20,
                                      1.2 if k != 1 else None, 0.08, distance_trace=trace,
                                      inference_trace=[0.07, 0.08, 0.09], video=str(video) if video else None))
    return EvalResult("reach", "direct", False, "models/x", episodes, 12.0, "touch the red cube with the right hand",
                      recording=str(tmp_path / "eval.rrd"))


def test_composed_frame_has_both_views_and_the_facts():
    scene = np.full((240, 320, 3), 90, np.uint8)
    ego = np.zeros((64, 64, 3), np.uint8)
    ego[::2] = 255  # a pattern that nearest-neighbour upscaling keeps
    overlay = Overlay("touch the red cube", 7, 1.5, 0.0412, "RUNNING", True)
    frame = compose_frame(scene, ego, overlay)
    assert frame.shape == (SCENE_SIZE[0] + BAND_HEIGHT, SCENE_SIZE[1] + SCENE_SIZE[0], 3) and frame.shape[1] % 2 == 0
    right = frame[8:SCENE_SIZE[0], SCENE_SIZE[1]:]
    assert set(np.unique(right[30:200, 10:200])) <= {0, 255}  # the ego pixels, upscaled x3 without blending
    assert (frame[:4] == (60, 220, 60)).all()  # the success bar
    band = frame[SCENE_SIZE[0]:]
    assert (band > 150).sum() > 500  # the text lines
    missing = compose_frame(None, None, Overlay("x", 1, 0.0, None, "-", False))
    assert missing.shape == frame.shape and not (missing[:4] == (60, 220, 60)).all()


def test_rollout_videos_check_their_settings(tmp_path):
    with pytest.raises(ValueError, match="video fps must be >= 1"):
        RolloutVideos(0, tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="video episodes must be >= 0"):
        RolloutVideos(10, tmp_path / "a.mp4", episodes=-1)
    videos = RolloutVideos(10, per_episode_dir=tmp_path / "v", episodes=1)
    assert videos.wants(0) and not videos.wants(1) and not RolloutVideos(10).enabled


def test_report_has_the_table_interval_plots_and_links(tmp_path):
    from dit4dit_ros.evaluation.report import write_report

    result = _result(tmp_path)
    page = write_report(result, tmp_path / "report")
    html = page.read_text()
    assert "success 2/3 = 0.67 (Wilson 95% CI 0.21-0.94)" in html
    assert html.count("<tr class=") == 3 and "failure" in html
    assert 'href="../videos/seed_100000.mp4"' in html and 'href="../eval.rrd"' in html  # relative links
    for plot in ("distance.png", "latency.png"):
        data = (tmp_path / "report" / plot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    import json

    saved = json.loads((tmp_path / "report" / "result.json").read_text())
    assert saved["successes"] == 2 and len(saved["per_episode"][0]["distance_trace"]) == 20


@pytest.mark.sim
def test_direct_eval_recording_holds_every_episode(tiny_engine, tmp_path):
    """`dit4dit eval --rrd`: one recording, the robot under /world/g1, the scene, the plots, the episodes one after
    another on the sim_time timeline."""
    from dit4dit_ros.evaluation.direct import evaluate_direct
    from dit4dit_ros.evaluation.recording import EPISODE_GAP, EvalRecording, recording_summary

    path = tmp_path / "eval.rrd"
    result = evaluate_direct("<tiny>", seeds=[5, 6], engine=tiny_engine, duration=0.5,
                             observers=[EvalRecording(path, mode="direct")])
    s = recording_summary(path)
    assert {"/world/g1/pelvis", "/world/g1/right_wrist_yaw_link", "/world/g1/torso_link/head_camera",
            "/world/scene/table", "/world/scene/cube", "/plots/distance_to_target", "/plots/inference_ms",
            "/log/episodes"} <= s.entities
    assert {"sim_time", "episode"} <= s.timelines
    lengths = [e.episode_time for e in result.episodes]
    assert s.time_range["sim_time"] == pytest.approx((0.0, lengths[0] + EPISODE_GAP + lengths[1]), abs=1e-6)
    assert s.time_range["episode"] == (0.0, 1.0)
