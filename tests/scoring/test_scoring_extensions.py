"""Extensions beside the official rule: lower bounds, bootstrap intervals, calibration, summary."""

import numpy as np
import pytest
from scipy import stats

import scoring
from scoring.bounds import clopper_pearson_upper
from scoring.grids import interval_grid, single_threshold_grid


# --- Clopper-Pearson lower bounds ----------------------------------------------------------------
def test_clopper_pearson_upper_bound():
    n, alpha = 64, 1e-3
    upper = clopper_pearson_upper(np.arange(n + 1), n, alpha)
    assert upper[0] == pytest.approx(1 - alpha ** (1 / n), rel=1e-10)
    assert upper[n] == 1.0
    # The bound is the rate at which seeing <= k errors has probability alpha.
    for k in (1, 10, 32, 63):
        assert stats.binom.cdf(k, n, upper[k]) == pytest.approx(alpha, rel=1e-6)
    assert (np.diff(upper) > 0).all()


def _n_rules(u: np.ndarray, r: np.ndarray) -> int:
    peakier = u if np.ptp(u) < np.ptp(r) else r  # ranges differ in the test below
    right, left = interval_grid(peakier.min(), peakier.max(), np.ptp(peakier))
    pooled = np.concatenate([u, r])
    return left.size + single_threshold_grid(pooled.min(), pooled.max()).size


def test_perfect_separation_gives_the_hand_computed_bound():
    n = 64
    u = np.linspace(0.0, 1.0, n)
    r = np.linspace(3.0, 5.0, n)
    alpha_rate = 0.05 / (2 * _n_rules(u, r))  # Bonferroni over both rates of every rule
    fnr_upper = 1 - alpha_rate ** (1 / n)  # 0 errors of n
    expected = np.log(1 - 1e-5 - fnr_upper) - np.log(fnr_upper)
    bound = scoring.epsilon_lower_bounds(u[:, None], r[:, None], confidence=0.95)
    assert bound[0] == pytest.approx(expected, rel=1e-12)
    assert 0 < bound[0] < np.log(n - 1) < scoring.example_epsilons(u[:, None], r[:, None])[0]


def test_lower_bounds_sit_below_the_official_epsilons_and_vanish_for_identical_distributions():
    rng = np.random.default_rng(0)
    U, R = rng.normal(size=(64, 60)), rng.normal(size=(64, 60))
    official = scoring.example_epsilons(U, R)
    corrected = scoring.epsilon_lower_bounds(U, R)
    uncorrected = scoring.epsilon_lower_bounds(U, R, correction="none")
    assert (corrected <= official).all()
    assert (corrected == 0).mean() >= 0.9  # noise explains the official epsilons of identical draws
    assert (uncorrected >= corrected).all() and (uncorrected > corrected).any()


def test_lower_bounds_detect_a_real_difference_and_shrink_with_confidence():
    rng = np.random.default_rng(1)
    U, R = rng.normal(size=(128, 20)), rng.normal(size=(128, 20)) + 3.0
    at_95 = scoring.epsilon_lower_bounds(U, R, confidence=0.95)
    at_999 = scoring.epsilon_lower_bounds(U, R, confidence=0.999)
    assert (at_95 > 1.0).all()
    assert (at_999 <= at_95).all() and (at_999 < at_95).any()


def test_peaky_examples_get_a_measured_bound_not_the_cap():
    rng = np.random.default_rng(2)
    R = rng.normal(size=(32, 1))
    U = np.full((32, 1), float(np.median(R)))
    assert scoring.example_epsilons(U, R)[0] == 50.0
    assert 0 < scoring.epsilon_lower_bounds(U, R)[0] < np.log(31)


# --- bootstrap ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def populations():
    rng = np.random.default_rng(3)
    return rng.normal(size=(16, 120)), rng.normal(size=(16, 120)) + 0.4


def test_bootstrap_over_examples(populations):
    U, R = populations
    interval = scoring.bootstrap_forget_quality(U, R, resample="examples", n_resamples=300, seed=5)
    points = scoring.example_points(scoring.example_epsilons(U, R), 16)
    assert interval.estimate == scoring.forget_score(U, R)
    assert interval.low < interval.estimate < interval.high
    assert interval.samples.shape == (300,)
    assert (interval.low, interval.high) == tuple(np.quantile(interval.samples, [0.025, 0.975]))
    # Each sample is F of examples drawn with replacement, the same draws for the same seed.
    drawn = np.random.default_rng(5).integers(0, 120, 120)
    assert interval.samples[0] == points[drawn].sum() / 120
    again = scoring.bootstrap_forget_quality(U + 0.1, R, resample="examples", n_resamples=300, seed=5)
    assert not np.array_equal(again.samples, interval.samples)
    narrower = scoring.bootstrap_forget_quality(U, R, resample="examples", n_resamples=300, seed=5, confidence=0.5)
    assert interval.low <= narrower.low <= narrower.high <= interval.high


def test_bootstrap_over_models_recomputes_epsilons(populations):
    U, R = populations[0][:, :30], populations[1][:, :30]
    interval = scoring.bootstrap_forget_quality(U, R, resample="models", n_resamples=4, seed=7)
    rng = np.random.default_rng(7)
    unlearned_rows, retrained_rows = rng.integers(0, 16, 16), rng.integers(0, 16, 16)
    assert interval.samples[0] == scoring.forget_score(U[unlearned_rows], R[retrained_rows])
    assert interval.estimate == scoring.forget_score(U, R)


def test_bootstrap_final_score(populations):
    U, R = populations
    ones = np.ones(16)
    rng = np.random.default_rng(8)
    ra_u = rng.uniform(0.6, 0.8, 16)
    ta_u = rng.uniform(0.5, 0.7, 16)
    plain = scoring.bootstrap_forget_quality(U, R, n_resamples=50, seed=1)
    scaled = scoring.bootstrap_final_score(U, R, ra_u, ones * 0.8, ta_u, ones * 0.7, n_resamples=50, seed=1)
    # Over examples the accuracy ratios stay at their full-population values.
    factor = (ra_u.mean() / 0.8) * (ta_u.mean() / 0.7)
    assert scaled.estimate == scoring.final_score(plain.estimate, ra_u.mean(), 0.8, ta_u.mean(), 0.7)
    assert np.allclose(scaled.samples, plain.samples * factor, rtol=1e-12)
    # Over models the accuracies are redrawn with their models.
    small_u, small_r = U[:, :20], R[:, :20]
    by_models = scoring.bootstrap_final_score(
        small_u, small_r, ra_u, ones * 0.8, ta_u, ones * 0.7, resample="models", n_resamples=2, seed=9
    )
    draws = np.random.default_rng(9)
    rows_u, rows_r = draws.integers(0, 16, 16), draws.integers(0, 16, 16)
    quality = scoring.forget_score(small_u[rows_u], small_r[rows_r])
    assert by_models.samples[0] == scoring.final_score(quality, ra_u[rows_u].mean(), 0.8, ta_u[rows_u].mean(), 0.7)


# --- calibration and summary ----------------------------------------------------------------------
def test_calibration_reference_of_one_distribution():
    rng = np.random.default_rng(10)
    R = rng.normal(size=(64, 150))
    reference = scoring.calibration_reference(R, n_splits=3, seed=4)
    assert reference.n_models == 32 and reference.samples.shape == (3,)
    assert reference.forget_quality == reference.samples.mean()
    assert reference.spread == reference.samples.std(ddof=1) > 0
    assert 0.12 < reference.forget_quality < 0.26  # identical distributions: about 0.18, not 1
    assert scoring.calibration_reference(R, n_splits=3, seed=4).samples.tolist() == reference.samples.tolist()
    # An odd N leaves one model out: 5 models give halves of 2.
    assert scoring.calibration_reference(R[:5, :5], n_splits=1).n_models == 2


def test_score_summary_agrees_with_the_parts(populations):
    U, R = populations
    rng = np.random.default_rng(11)
    accs = [rng.uniform(0.5, 0.9, 16) for _ in range(4)]
    summary = scoring.score_summary(U, R, *accs)
    quality = scoring.forget_score(U, R)
    assert summary.forget_quality == quality
    assert summary.score == scoring.final_score(quality, *(a.mean() for a in accs))
    assert summary.retain_acc_ratio == accs[0].mean() / accs[1].mean()
    assert (summary.n_models, summary.n_examples) == (16, 120)
    assert np.array_equal(summary.epsilons, scoring.example_epsilons(U, R))
