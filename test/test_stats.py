"""Running statistics: rates over a time window, latency percentiles, counters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bodypose3d_ros.ros.stats import Counters, LatencyStats, RateMeter


def test_rate_of_a_steady_stream_is_exact_at_an_event() -> None:
    meter = RateMeter(window_s=5.0)
    times = [k / 30.0 for k in range(301)]  # 30 Hz for 10 s
    for t in times:
        meter.tick(t)
    assert meter.rate(times[-1]) == pytest.approx(30.0, rel=1e-9)
    # Only the last 5 s count: 150 events in (5, 10] (give or take the one on the edge).
    assert meter.count(times[-1]) in (150, 151)


def test_rate_follows_a_change_of_speed_within_one_window() -> None:
    meter = RateMeter(window_s=2.0)
    t = 0.0
    for _ in range(100):  # 50 Hz for 2 s
        t += 0.02
        meter.tick(t)
    assert meter.rate(t) == pytest.approx(50.0, rel=1e-6)
    for _ in range(30):  # then 10 Hz for 3 s: the 50 Hz events have left the window
        t += 0.1
        meter.tick(t)
    assert meter.rate(t) == pytest.approx(10.0, rel=1e-6)


def test_rate_decays_when_events_stop_and_reaches_zero() -> None:
    meter = RateMeter(window_s=5.0)
    for k in range(1, 51):  # 10 Hz up to t = 5.0
        meter.tick(k / 10.0)
    at_stop = meter.rate(5.0)
    later = meter.rate(7.0)
    assert at_stop == pytest.approx(10.0, rel=1e-9)
    assert 0.0 < later < at_stop
    assert meter.rate(10.5) == 0.0
    assert meter.count(10.5) == 0


def test_rate_needs_two_events_and_survives_a_clock_jump_back() -> None:
    meter = RateMeter(window_s=5.0)
    assert meter.rate(0.0) == 0.0
    meter.tick(100.0)
    assert meter.rate(100.0) == 0.0
    meter.tick(100.5)
    assert meter.rate(100.5) == pytest.approx(2.0)
    meter.tick(3.0)  # e.g. a replayed bag started over: old history no longer applies
    assert meter.count(3.0) == 1
    with pytest.raises(ValueError, match="window_s"):
        RateMeter(window_s=0.0)


def test_latency_percentiles_cover_only_the_last_window_samples() -> None:
    stats = LatencyStats(window=200)
    assert math.isnan(stats.percentile(50))
    for value in range(1, 301):
        stats.add(float(value))
    assert stats.count == 200
    # The window holds 101..300.
    assert stats.percentile(50) == pytest.approx(200.5)
    assert stats.percentile(0) == 101.0
    assert stats.percentile(100) == 300.0
    assert stats.percentile(95) == pytest.approx(101 + 0.95 * 199)


def test_latency_percentiles_match_numpy_on_random_samples() -> None:
    rng = np.random.default_rng(7)
    samples = rng.gamma(2.0, 5.0, size=150)
    stats = LatencyStats(window=500)
    for value in samples:
        stats.add(float(value))
    for p in (5, 50, 95, 99):
        assert stats.percentile(p) == pytest.approx(float(np.percentile(samples, p)))


def test_latency_refuses_nonsense() -> None:
    stats = LatencyStats()
    with pytest.raises(ValueError, match="finite"):
        stats.add(float("nan"))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        stats.percentile(101)
    with pytest.raises(ValueError, match="window"):
        LatencyStats(window=0)


def test_counters_are_monotonic_and_named() -> None:
    counters = Counters(["received", "dropped"])
    assert counters.snapshot() == {"received": 0, "dropped": 0}
    assert counters.increment("received") == 1
    counters.increment("received", 4)
    counters.increment("rejected")
    assert counters["received"] == 5
    assert counters.get("rejected") == 1
    assert counters.get("never") == 0
    snap = counters.snapshot()
    counters.increment("dropped")
    assert snap["dropped"] == 0  # a snapshot is a copy
    with pytest.raises(ValueError, match="only go up"):
        counters.increment("received", -1)
