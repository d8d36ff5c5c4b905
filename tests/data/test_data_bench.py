"""`dit4dit bench dataloader` on a small synthetic dataset (the figure itself is measured by hand)."""
from __future__ import annotations

import pytest

from dit4dit_ros.data.bench_dataloader import run_dataloader_bench


@pytest.mark.slow
def test_bench_dataloader_reports_samples_per_second():
    result = run_dataloader_bench(None, batches=3, batch_size=2, num_workers=2, image_size=(64, 64), episodes=1,
                                  duration_s=2.0)
    assert result.samples == 6 and result.samples_per_s > 0
    assert "samples/s" in result.line() and result.video_frames_per_sample == 9
