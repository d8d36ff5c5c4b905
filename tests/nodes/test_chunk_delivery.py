"""ChunkDelivery: the legs of each chunk's way to the control process, from made-up timestamps (ROS-free)."""
from __future__ import annotations

import pytest

from dit4dit_ros.nodes.chunk_delivery import SLOW_DELIVERY_S, ChunkDelivery

MS = 1_000_000  # ns


def test_each_leg_is_the_difference_of_its_two_stamps():
    d = ChunkDelivery()
    t = 1_700_000_000 * 10**9
    d.add(source_ns=t, received_ns=t + 2 * MS, started_ns=t + 7 * MS, posted_ns=t + 8 * MS)
    r = d.report()
    assert (r["chunks"], r["unstamped"], r["slow"]) == (1, 0, 0)
    assert r["transport_p50_ms"] == r["transport_max_ms"] == pytest.approx(2.0)
    assert r["queue_p50_ms"] == pytest.approx(5.0)
    assert r["handoff_p50_ms"] == pytest.approx(1.0)


def test_a_chunk_over_the_slow_limit_is_counted_and_the_median_is_not_the_max():
    d = ChunkDelivery()
    t = 10**18
    for queue_ms in (1, 2, 3):
        d.add(t, t + MS, t + (1 + queue_ms) * MS, t + (2 + queue_ms) * MS)
    late = int(SLOW_DELIVERY_S * 1e3) + 50
    d.add(t, t + MS, t + late * MS, t + (late + 1) * MS)
    r = d.report()
    assert r["slow"] == 1 and r["chunks"] == 4
    assert r["queue_max_ms"] == pytest.approx(late - 1)
    assert r["queue_p50_ms"] == pytest.approx(2.5)


def test_missing_dds_timestamps_leave_only_the_handoff_leg():
    d = ChunkDelivery()
    d.add(source_ns=0, received_ns=0, started_ns=5 * MS, posted_ns=8 * MS)
    r = d.report()
    assert r["unstamped"] == 1 and r["slow"] == 0
    assert r["handoff_max_ms"] == pytest.approx(3.0)
    assert "transport_p50_ms" not in r and "queue_p50_ms" not in r


def test_the_window_keeps_the_newest_chunks_and_the_counts_keep_them_all():
    d = ChunkDelivery(window=4)
    t = 10**18
    for k in range(10):  # transport legs 0..9 ms; the window holds the last four: 6..9
        d.add(t, t + k * MS, t + k * MS, t + k * MS)
    r = d.report()
    assert r["chunks"] == 10
    assert r["transport_max_ms"] == pytest.approx(9.0)
    assert r["transport_p50_ms"] == pytest.approx(7.5)


def test_no_chunk_yet_reports_counts_only():
    assert ChunkDelivery().report() == {"chunks": 0, "unstamped": 0, "slow": 0}


def test_an_empty_window_is_refused_by_name():
    with pytest.raises(ValueError, match="window must be >= 1"):
        ChunkDelivery(window=0)
