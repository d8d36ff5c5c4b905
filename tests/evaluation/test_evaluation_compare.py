"""`python -m dit4dit_ros.evaluation.compare`: which seeds differ between two evaluations, and the first chunk at
which each parts (another frame time, another joint-state pairing, other inputs, or another output)."""
from __future__ import annotations

import copy
import json

import pytest

from dit4dit_ros.evaluation.compare import compare_runs, first_difference, main


def _chunk(stamp: float, skew: float = 0.0, inputs: str = "aaaaaaaaaaaa", output: str = "bbbbbbbbbbbb") -> dict:
    return {"chunk_stamp": stamp, "state_skew_ms": skew, "input_digest": inputs, "output_digest": output}


def _run(seeds=(1, 2, 3)) -> dict:
    return {"per_episode": [
        {"seed": s, "success": True, "distance_trace": [[0.0, 0.3], [0.1, 0.2], [0.2, 0.1]],
         "chunk_trace": [_chunk(2.0), _chunk(2.4), _chunk(2.8)]} for s in seeds]}


def test_first_difference_names_what_differs():
    base = [_chunk(2.0), _chunk(2.4)]
    assert first_difference(base, copy.deepcopy(base)) == ""
    assert "chunk 1: frame 0.4 s vs 0.6 s after the episode's first chunk (frame 2.4 s)" in \
        first_difference(base, [_chunk(2.0), _chunk(2.6)])
    assert first_difference(base, [_chunk(5.2), _chunk(5.6)]) == ""  # the same episode, started later
    assert "joint state paired 0.0 ms vs 2.0 ms" in first_difference(base, [_chunk(2.0), _chunk(2.4, skew=2.0)])
    assert "chunk 0 (frame 2.0 s): other inputs" in first_difference(base, [_chunk(2.0, inputs="c" * 12), base[1]])
    # which input, where the traces carry per-input digests (older ones do not)
    pictured = [{**c, "image_digest": "1" * 12, "joints_digest": "2" * 12} for c in base]
    moved = copy.deepcopy(pictured)
    moved[0].update(input_digest="c" * 12, joints_digest="3" * 12)
    assert "chunk 0 (frame 2.0 s): other inputs (joint positions)" in first_difference(pictured, moved)
    moved[0].update(image_digest="4" * 12)
    assert "other inputs (images and joint positions)" in first_difference(pictured, moved)
    assert "other inputs (images or joint positions)" in first_difference(base, [_chunk(2.0, inputs="c" * 12), base[1]])
    assert "same inputs, another output" in first_difference(base, [base[0], _chunk(2.4, output="d" * 12)])
    assert "chunk 2: one run has 2 chunks, the other 3" in first_difference(base, [*base, _chunk(2.8)])


def test_compare_runs_lists_only_the_seeds_that_part():
    a, b = _run(), _run()
    assert compare_runs(a, b) == {}
    b["per_episode"][1]["distance_trace"][2] = [0.2, 0.15]
    b["per_episode"][1]["chunk_trace"][2]["output_digest"] = "e" * 12
    b["per_episode"][2]["success"] = False
    out = compare_runs(a, b)
    assert set(out) == {2, 3}
    assert "distance traces part at 0.2 s" in out[2] and "chunk 2 (frame 2.8 s): same inputs" in out[2]
    assert out[3].startswith("success True vs False") and "chunk traces agree" in out[3]
    later = _run()  # every episode started 3.2 s later in simulation time (a slower reset): the same episodes
    for episode in later["per_episode"]:
        for chunk in episode["chunk_trace"]:
            chunk["chunk_stamp"] += 3.2
    assert compare_runs(a, later) == {}
    assert compare_runs(_run((1, 2)), _run((2, 5))) == {1: "only in the first run", 5: "only in the second run"}


def test_the_command_line_prints_the_count_and_refuses_a_file_that_is_not_a_result(tmp_path, capsys):
    a, b = _run(), _run()
    b["per_episode"][0]["chunk_trace"][1]["state_skew_ms"] = -2.0
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 episodes identical" in out and "seed 1: " in out and "paired 0.0 ms vs -2.0 ms" in out
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "a.json"), str(tmp_path / "bad.json")])
    assert exc.value.code == 2
    assert "bad.json: not a readable `dit4dit eval --json` result" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "list.json"), str(tmp_path / "a.json")])
    assert "list.json: not a `dit4dit eval --json` result (expected an object with a per_episode list)" in \
        capsys.readouterr().err
