"""ROS-free stream helpers used by the nodes: deadline decimation, rate meter, silence detection."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.utils.streams import Decimator, RateMeter, StreamState, StreamWatch


@pytest.mark.parametrize("target", [100.0, 200.0, 250.0, 30.0])
def test_decimator_keeps_the_average_rate_of_a_500hz_stream(target):
    rng = np.random.default_rng(0)
    times = np.arange(5000) * 0.002 + rng.normal(0.0, 5e-5, 5000)  # 10 s at 500 Hz with jitter
    decimator = Decimator(target)
    kept = [t for t in times if decimator.accept(t)]
    rate = (len(kept) - 1) / (kept[-1] - kept[0])
    assert rate == pytest.approx(target, rel=0.01)
    gaps = np.diff(kept)
    assert gaps.max() < 1.0 / target + 0.0025  # never more than one input period late


def test_decimator_restarts_after_a_gap_without_a_burst():
    dec = Decimator(100.0)
    assert dec.accept(0.0)
    assert not dec.accept(0.002)
    assert dec.accept(5.0)  # long gap: restart from this sample
    assert not dec.accept(5.002) and not dec.accept(5.004)
    assert dec.accept(5.010)
    with pytest.raises(ValueError):
        Decimator(0.0)


def test_aligned_decimator_passes_the_same_ticks_whenever_the_stream_starts():
    """Simulator ticks (ms) at 500 Hz, decimated to 100 Hz on the 10 ms grid: the states on the grid pass, so a
    frame taken at a multiple of 10 ms finds the state of its own time, wherever the stream was joined."""
    for start_ms in (0, 2, 4, 6, 8, 1234):
        dec = Decimator(100.0, aligned=True)
        kept = [t for t in range(start_ms, 2000, 2) if dec.accept(t * 1e-3)]
        grid = [t for t in kept if t % 10 == 0]
        assert kept[1:] == grid[(1 if kept[0] % 10 == 0 else 0):], (start_ms, kept[:5])
        assert len(grid) >= (2000 - start_ms) // 10 - 1
    dec = Decimator(100.0, aligned=True)
    assert dec.accept(0.010) and not dec.accept(0.012) and dec.accept(0.030)  # a gap: no catch-up burst
    assert not dec.accept(0.030)  # a repeated tick does not pass twice


def test_rate_meter_window():
    meter = RateMeter(window_s=1.0)
    for i in range(101):
        meter.tick(i * 0.01)
    assert meter.rate(1.0) == pytest.approx(100.0)
    assert meter.rate(10.0) == 0.0  # everything fell out of the window


def test_stream_watch_reports_each_transition_once():
    watch = StreamWatch(timeout_s=0.2)
    assert watch.check(1.0) is None and watch.state is StreamState.WAITING
    first = watch.sample(1.0)
    assert first.previous is StreamState.WAITING and first.current is StreamState.ALIVE
    assert watch.sample(1.1) is None and watch.check(1.25) is None
    stale = watch.check(1.35)
    assert stale.current is StreamState.STALE and stale.silent_for == pytest.approx(0.25)
    assert watch.check(2.0) is None  # reported once
    back = watch.sample(3.1)
    assert back.previous is StreamState.STALE and back.gap == pytest.approx(2.0)
    assert watch.stale_events == 1 and watch.age(3.2) == pytest.approx(0.1)
