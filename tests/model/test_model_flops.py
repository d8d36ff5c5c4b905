"""FLOPs per stage on the meta device: the counter counts what it should, and the project's step is the cheap one."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dit4dit_ros.model.flops import count_flops, count_policy_flops, format_flops


def test_counter_counts_matmuls_and_math_attention():
    with torch.device("meta"):
        linear = torch.nn.Linear(64, 32)
        x = torch.zeros(5, 64)
        q = k = v = torch.zeros(1, 2, 10, 8)
    assert count_flops(lambda: linear(x)) == 2 * 5 * 64 * 32
    # attention through the math kernel: QK^T and AV, 2 * 2 * heads * L * L * d
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 2 * 2 * 2 * 10 * 10 * 8


def test_tiny_preset_stages_and_the_official_path_costs_more():
    report = count_policy_flops("tiny")
    assert set(report.project) == {"vae_encode", "video_trunk", "action_context", "action_steps"}
    assert all(v > 0 for v in report.project.values()) and report.per_instruction["text_conditioning"] > 0
    # the official path encodes the padded clip, runs every block and recomputes the visual K/V per step
    assert report.official["vae_encode"] > 2 * report.project["vae_encode"]
    assert report.official["video_trunk"] > report.project["video_trunk"]
    assert report.official["action_steps"] > report.project["action_steps"]
    assert report.text_encoder.startswith("tiny-random")
    fewer = count_policy_flops("tiny", num_steps=2)
    assert fewer.project["action_steps"] * 2 == report.project["action_steps"]


@pytest.mark.slow
def test_2b_preset_is_counted_without_weights_and_meets_the_goal():
    """The real 2B configuration (7B text encoder on the official side) on the meta device: nothing is allocated."""
    report = count_policy_flops("cosmos-predict2.5-2b")
    with_te, without = report.ratios()
    assert with_te >= 6.0 and without >= 2.6, format_flops(report)
    text = format_flops(report)
    assert text.splitlines()[-1] == f"official/project FLOPs ratio: {with_te:.2f} (with text encoder), {without:.2f} (without)"
    assert "Cosmos-Reason1-7B" in text


def test_bench_flops_command(capsys):
    from dit4dit_ros.cli import main

    assert main(["bench", "flops", "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "vae_encode" in out and "video_trunk" in out
    assert out.strip().splitlines()[-1].startswith("official/project FLOPs ratio: ")
