"""`dit4dit bench record` runs end to end (a few seconds here; the 60 s figure is measured by hand)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_bench_record_reports_counts_cpu_and_disk_rate():
    proc = subprocess.run(
        [sys.executable, "-m", "dit4dit_ros.cli", "bench", "record", "--duration", "3", "--width", "320",
         "--height", "240", "--json"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1 = some message dropped (reported, not a crash)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    sent, recorded = result["sent"], result["recorded"]
    assert set(sent) == {"/camera/ego/image_raw", "/joint_states"}
    assert 85 <= sent["/camera/ego/image_raw"] <= 95 and 1450 <= sent["/joint_states"] <= 1550
    assert recorded["/joint_states"] == sent["/joint_states"]  # reliable stream
    assert recorded["/camera/ego/image_raw"] >= 0.9 * sent["/camera/ego/image_raw"]
    assert result["dropped"] == {t: sent[t] - recorded[t] for t in sent}
    assert result["disk_mb_per_s"] > 1.0 and 0 < result["recorder_cpu_percent"] < 400
