"""One-Euro smoothing: real time stamps, robust to bad stamps, one state per person."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bodypose3d_ros.core.lift.lifting import lift_pose
from bodypose3d_ros.core.lift.smoothing import (
    ROOT_DEPTH_PARAMS,
    UV_PARAMS,
    Z_REL_PARAMS,
    OneEuroFilter,
    OneEuroParams,
    PersonSmoother,
    SmootherBank,
    filter_many,
)
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS


def test_reference_parameters() -> None:
    assert (UV_PARAMS.min_cutoff, UV_PARAMS.beta, UV_PARAMS.d_cutoff) == (0.1, 0.05, 1.0)
    assert (Z_REL_PARAMS.min_cutoff, Z_REL_PARAMS.beta, Z_REL_PARAMS.d_cutoff) == (0.5, 0.05, 1.0)
    assert (ROOT_DEPTH_PARAMS.min_cutoff, ROOT_DEPTH_PARAMS.beta) == (0.1, 0.05)


def test_first_sample_passes_through() -> None:
    sample = np.arange(68, dtype=np.float64).reshape(34, 2)
    np.testing.assert_array_equal(OneEuroFilter(UV_PARAMS)(sample, 5.0), sample)


def test_constant_signal_is_unchanged() -> None:
    smoother = OneEuroFilter(UV_PARAMS)
    constant = np.random.default_rng(0).uniform(0, 1000, size=(34, 2))
    for frame in range(100):
        out = smoother(constant, frame / 30.0)
        np.testing.assert_allclose(out, constant, rtol=0, atol=1e-9)


def step_response(step: float) -> np.ndarray:
    """Outputs from the moment a 30 Hz signal jumps from 0 to ``step`` (after 1 s at rest)."""
    smoother = OneEuroFilter(UV_PARAMS)
    stamps = np.arange(0, 30.0, 1 / 30.0)
    outputs = np.array([smoother(0.0 if t < 1.0 else step, t) for t in stamps])
    return outputs[stamps >= 1.0]


def test_step_lags_then_converges() -> None:
    after = step_response(1.0)
    assert 0.0 < after[0] < 0.2  # a small step (jitter-sized) is not followed at once ...
    assert np.all(np.diff(after) >= 0.0)  # ... but approached monotonically, never overshooting
    assert after[-1] == pytest.approx(1.0, abs=1e-3)  # ... and reached


def test_fast_large_moves_are_followed_with_less_lag() -> None:
    """The speed term (beta) raises the cut-off: a big jump is followed more closely."""
    small, large = step_response(1.0), step_response(100.0) / 100.0
    assert large[0] > 2.0 * small[0]
    assert large[-1] == pytest.approx(1.0, abs=1e-3)


def test_noise_on_a_constant_is_reduced() -> None:
    rng = np.random.default_rng(7)
    noisy = 320.0 + rng.normal(0.0, 2.0, size=(600, 34, 2))
    smoother = OneEuroFilter(UV_PARAMS)
    outputs = np.array([smoother(sample, i / 30.0) for i, sample in enumerate(noisy)])
    settled = outputs[300:]
    assert settled.var(axis=0).mean() < 0.3 * noisy[300:].var(axis=0).mean()
    assert np.abs(settled.mean() - 320.0) < 0.5


def reference_first_step(step: float, rate_hz: float, params: OneEuroParams) -> float:
    """The reference's formula written out for the first step after a pass-through sample at 0."""
    alpha_d = params.d_cutoff / (rate_hz / (2 * math.pi) + params.d_cutoff)
    speed_hat = alpha_d * (step * rate_hz)  # the speed estimate starts from 0
    cutoff = params.min_cutoff + params.beta * abs(speed_hat)
    alpha = cutoff / (rate_hz / (2 * math.pi) + cutoff)
    return alpha * step


@pytest.mark.parametrize(("rate_hz", "by_hand"), [(30.0, 0.0700677), (10.0, 0.1554456)])
def test_first_step_follows_the_formula_with_the_real_rate(rate_hz: float, by_hand: float) -> None:
    # By hand, 30 Hz: alpha_d = 1/(30/2pi + 1) = 0.173171, speed 0.173171*30 = 5.19512,
    # cut-off 0.1 + 0.05*5.19512 = 0.359756 Hz, alpha = 0.359756/(4.774648 + 0.359756) = 0.070068.
    # 10 Hz: alpha_d = 0.385870, speed 3.85870, cut-off 0.292935, alpha = 0.155446.
    assert reference_first_step(1.0, rate_hz, UV_PARAMS) == pytest.approx(by_hand, abs=1e-6)
    smoother = OneEuroFilter(UV_PARAMS)
    smoother(np.zeros(3), 12.0)
    out = smoother(np.ones(3), 12.0 + 1.0 / rate_hz)
    np.testing.assert_allclose(out, by_hand, atol=1e-6)


def test_slower_stamps_follow_a_step_faster_per_sample() -> None:
    """Same samples, more time between them: each output moves further towards the step."""
    fast, slow = OneEuroFilter(Z_REL_PARAMS), OneEuroFilter(Z_REL_PARAMS)
    fast(0.0, 0.0)
    slow(0.0, 0.0)
    for i in range(1, 10):
        at_30_hz = float(fast(1.0, i / 30.0))
        at_10_hz = float(slow(1.0, i / 10.0))
        assert 0.0 < at_30_hz < at_10_hz < 1.0


@pytest.mark.parametrize("step_back_s", [0.0, 0.01])
def test_repeated_or_older_stamps_pass_the_frame_through_instead_of_freezing(
    step_back_s: float,
) -> None:
    """A driver repeating stamps (or 10 ms backwards) while the person moves 114 px.

    The filter used to hold its previous estimate for such frames, so the published skeleton
    froze; now each frame passes through, and the filter restarts from it.
    """
    smoother = OneEuroFilter(UV_PARAMS)
    for i in range(10):
        smoother(np.array([[200.0, 300.0]]), i / 30.0)
    last = 9 / 30.0
    moved = np.array([[314.0, 300.0]])
    out = smoother(moved, last - step_back_s)
    np.testing.assert_array_equal(out, moved)
    further = np.array([[330.0, 300.0]])
    following = smoother(further, last - step_back_s + 1 / 30.0)
    assert 314.0 < float(following[0, 0]) <= 330.0  # filtered again, from the frame that passed


def test_non_increasing_stamps_keep_outputs_finite_and_follow_the_input() -> None:
    rng = np.random.default_rng(3)
    smoother = OneEuroFilter(UV_PARAMS)
    smoother(rng.normal(size=(34, 2)), 0.0)
    for stamp in (0.0, 0.0, -0.02, 0.033, 0.033):
        sample = rng.normal(size=(34, 2)) * 100
        assert np.all(np.isfinite(smoother(sample, stamp)))
    held = smoother(np.full((34, 2), 7.0), 0.033)  # same stamp again: passes through
    np.testing.assert_array_equal(held, np.full((34, 2), 7.0))


def test_a_clock_jump_back_restarts_instead_of_freezing() -> None:
    """A bag played in a loop: the second pass must follow the input, not hold the last value."""
    smoother = OneEuroFilter(UV_PARAMS)
    for i in range(60):
        smoother(np.array([100.0 + i]), i / 30.0)
    outputs = [float(smoother(np.array([600.0 + 5 * i]), i / 30.0)[0]) for i in range(60)]
    assert outputs[0] == 600.0  # restarted on the new timeline
    assert outputs[-1] > 800.0  # and keeps following it (a frozen filter stays near 160)


def test_long_gap_restarts_the_filter() -> None:
    smoother = OneEuroFilter(ROOT_DEPTH_PARAMS, reset_after_s=1.0)
    for i in range(30):
        smoother(4.0, i / 30.0)
    assert 4.0 < float(smoother(8.0, 1.0 + 0.5)) < 8.0  # 0.53 s later: still filtered
    assert float(smoother(2.0, 1.5 + 1.2)) == 2.0  # 1.2 s later: taken as is


def test_missing_elements_pass_through_without_touching_the_rest() -> None:
    smoother = OneEuroFilter(UV_PARAMS)
    reference = OneEuroFilter(UV_PARAMS)
    first = np.array([10.0, 20.0, 30.0])
    second = np.array([12.0, np.nan, np.inf])
    smoother(first, 0.0)
    reference(first, 0.0)
    out = smoother(second, 0.1)
    assert np.isnan(out[1])
    assert np.isinf(out[2])
    np.testing.assert_array_equal(out[0], reference(np.array([12.0, 20.0, 30.0]), 0.1)[0])
    recovered = smoother(np.array([12.0, 20.0, 30.0]), 0.2)
    assert np.all(np.isfinite(recovered))
    np.testing.assert_allclose(recovered[1:], [20.0, 30.0])  # their state was never disturbed


def test_element_first_seen_later_starts_from_its_value() -> None:
    smoother = OneEuroFilter(UV_PARAMS)
    smoother(np.array([1.0, np.nan]), 0.0)
    np.testing.assert_allclose(smoother(np.array([1.0, 50.0]), 0.033), [1.0, 50.0])


def test_invalid_parameters_and_stamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="cut-offs"):
        OneEuroFilter(OneEuroParams(min_cutoff=0.0, beta=0.05))
    with pytest.raises(ValueError, match="stamp"):
        OneEuroFilter(UV_PARAMS)(1.0, float("nan"))


def test_person_smoother_filters_keypoints_and_root_depth() -> None:
    person = PersonSmoother()
    uv0, z0 = np.full((34, 2), 100.0), np.zeros(34)
    uv_out, z_out = person.smooth_keypoints(uv0, z0, 0.0)
    np.testing.assert_array_equal(uv_out, uv0)
    np.testing.assert_array_equal(z_out, z0)
    uv_out, z_out = person.smooth_keypoints(uv0 + 1.0, z0 + 1.0, 0.1)
    assert uv_out.shape == (34, 2)
    assert z_out.shape == (34,)
    assert np.all((uv_out > 100.0) & (uv_out < 101.0))
    assert np.all((z_out > 0.0) & (z_out < 1.0))
    # The same unit step: z_rel's higher minimum cut-off follows it more closely than pixels do.
    assert np.all(z_out[:, None] > uv_out - 100.0)

    assert person.root_depth_filter(0.0)(6.0) == 6.0
    smoothed = person.root_depth_filter(0.1)(7.0)
    assert isinstance(smoothed, float)
    assert 6.0 < smoothed < 7.0


def test_root_depth_filter_plugs_into_lift_pose() -> None:
    k = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    rng = np.random.default_rng(11)
    uv = rng.uniform(200, 440, size=(NUM_KEYPOINTS, 2))
    z_rel = rng.uniform(-0.2, 0.2, size=NUM_KEYPOINTS)
    person = PersonSmoother()
    first = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k, person.root_depth_filter(0.0))
    assert first.ok
    # The same person seen half the size: the raw solution would be about twice as deep.
    shrunk = 320.0 + (uv - 320.0) * 0.5
    raw = lift_pose(shrunk, z_rel, np.ones(NUM_KEYPOINTS), k)
    smoothed = lift_pose(shrunk, z_rel, np.ones(NUM_KEYPOINTS), k, person.root_depth_filter(0.1))
    assert raw.ok
    assert smoothed.ok
    assert first.root_depth < smoothed.root_depth < raw.root_depth


def test_bank_keeps_one_independent_state_per_person() -> None:
    bank = SmootherBank()
    alice, bob = bank.get("alice"), bank.get("bob")
    assert alice is not None
    assert bob is not None
    assert alice is not bob
    assert bank.get("alice") is alice
    for i in range(10):
        alice.root_depth_filter(i / 30.0)(3.0)
    # Bob's first depth passes through untouched by Alice's history (no shared root filter).
    assert bob.root_depth_filter(10 / 30.0)(9.0) == 9.0
    assert 3.0 < alice.root_depth_filter(11 / 30.0)(9.0) < 9.0


def test_bank_frees_people_who_left() -> None:
    bank = SmootherBank()
    for person_id in ("1", "2", "3"):
        smoother = bank.get(person_id)
        assert smoother is not None
        smoother.root_depth_filter(0.0)(5.0)
    assert len(bank) == 3

    assert sorted(bank.retain(["2", "9"])) == ["1", "3"]
    assert len(bank) == 1
    assert "2" in bank
    assert "1" not in bank
    assert "9" not in bank
    assert bank.retain(["2"]) == []

    returning = bank.get("1")  # the same id later is a fresh start
    assert returning is not None
    assert returning.root_depth_filter(0.1)(2.0) == 2.0
    assert bank.retain([]) == ["2", "1"]
    assert len(bank) == 0


def test_disabled_bank_smooths_nothing() -> None:
    bank = SmootherBank(enabled=False)
    assert bank.get("anyone") is None
    assert len(bank) == 0
    assert bank.retain(["anyone"]) == []


def test_many_people_at_once_equal_person_by_person() -> None:
    """``filter_many`` (one array step for everyone in the usual frame) gives bit for bit what
    each person's own filter gives, through restarts, gaps, repeated stamps and missing values."""
    rng = np.random.default_rng(5)
    people = 5
    alone = [OneEuroFilter(UV_PARAMS) for _ in range(people)]
    together = [OneEuroFilter(UV_PARAMS) for _ in range(people)]
    base = rng.uniform(0, 1000, size=(people, 34, 2))
    stamp = 10.0
    for frame in range(80):
        stamp += 0.0 if frame % 17 == 0 else 1.0 / 30.0  # a repeated stamp now and then
        if frame == 40:
            stamp += 2.0  # a stall: every filter restarts
        seen = [i for i in range(people) if (frame // 8 + i) % 3]  # people skip frames
        samples = base[seen] + rng.normal(0.0, 5.0, size=(len(seen), 34, 2)) + frame
        if frame % 11 == 0:
            samples[0, 4] = np.nan  # a keypoint without a value
        expected = [alone[i](samples[k], stamp) for k, i in enumerate(seen)]
        got = filter_many([together[i] for i in seen], samples, stamp)
        np.testing.assert_array_equal(got, np.array(expected))
    with pytest.raises(ValueError, match="same parameters"):
        filter_many([OneEuroFilter(UV_PARAMS), OneEuroFilter(Z_REL_PARAMS)], base[:2], stamp)
