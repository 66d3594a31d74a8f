"""The fast scorer gives the official per-example epsilons exactly, on random and adversarial input.

The reference (tests/scoring/scoring_reference.py) is a literal port of the released scorer; NaN there
means "no rule survived", where the released code stops and `scoring` defines epsilon = 0.
"""

import numpy as np
import pytest
import torch

import scoring
from scoring.grids import interval_grid, single_threshold_grid
import scoring_reference as reference
from scoring.rule_codes import SortedExamples, interval_codes, plan_attacks, single_threshold_codes
from scoring_reference import reference_epsilons, reference_forget_score

torch.set_num_threads(1)


def assert_same_epsilons(U, R, n_jobs=1):
    expected = reference_epsilons(U, R)
    expected = np.where(np.isnan(expected), 0.0, expected)
    got = scoring.example_epsilons(U, R, n_jobs=n_jobs)
    differ = np.flatnonzero(got != expected)
    assert differ.size == 0, f"examples {differ[:5]}: fast {got[differ[:5]]} != official {expected[differ[:5]]}"
    assert scoring.forgetting_quality(got, U.shape[0]) == reference_forget_score(expected, U.shape[0])
    return got


def gaussian_populations(rng, n_models, n_examples, shift=0.5, spread=(0.05, 3.0)):
    scale_u = rng.uniform(*spread, n_examples)
    scale_r = rng.uniform(*spread, n_examples)
    centre = rng.normal(0, 3, n_examples)
    U = centre + scale_u * rng.normal(size=(n_models, n_examples))
    R = centre + shift * rng.normal(size=n_examples) + scale_r * rng.normal(size=(n_models, n_examples))
    return U, R


@pytest.mark.parametrize("n_models, n_examples", [(2, 60), (3, 60), (32, 80)])
def test_random_populations(n_models, n_examples):
    rng = np.random.default_rng(n_models)
    assert_same_epsilons(*gaussian_populations(rng, n_models, n_examples))


def test_n512_a_few_examples():
    rng = np.random.default_rng(512)
    U, R = gaussian_populations(rng, 512, 3, spread=(0.5, 1.5))
    U[:, 2] = np.round(U[:, 2], 1)  # ties at the official N
    assert_same_epsilons(U, R, n_jobs=2)


@pytest.mark.parametrize("n_models", [2, 3, 32])
def test_ties_and_coarse_grids(n_models):
    rng = np.random.default_rng(10 + n_models)
    U = rng.integers(-3, 4, size=(n_models, 30)) / 2.0
    R = rng.integers(-2, 5, size=(n_models, 30)) / 2.0
    coarse_u, coarse_r = gaussian_populations(rng, n_models, 30)
    assert_same_epsilons(np.hstack([U, np.round(coarse_u, 1)]), np.hstack([R, np.round(coarse_r, 2)]))


def test_equal_medians_make_the_unlearned_set_positive():
    rng = np.random.default_rng(3)
    n = 33  # odd: the median is a value, set equal in both populations
    U = rng.normal(0, 1.0, size=(n, 20))
    R = rng.normal(0, 2.5, size=(n, 20))
    for X in (U, R):
        X -= np.median(X, axis=0)
    assert (np.median(U, axis=0) == np.median(R, axis=0)).all()
    assert not plan_attacks(U, R).retrained_positive_by_median.any()
    assert_same_epsilons(U, R)


def test_equal_ranges_and_mirrored_populations():
    rng = np.random.default_rng(4)
    U = rng.normal(size=(32, 20))
    R = -U[rng.permutation(32)]  # mirrored: the same range, exactly
    assert (np.ptp(U, axis=0) == np.ptp(R, axis=0)).all()
    assert_same_epsilons(U, R)


def _family_counts_match_reference(u: np.ndarray, r: np.ndarray) -> None:
    """Every rule of both families, one by one: the fast (fn, fp) against the reference's rates."""
    n = u.size
    plan = plan_attacks(u[:, None], r[:, None])
    examples = SortedExamples.from_populations(u[:, None], r[:, None])
    retrained_positive = bool(plan.retrained_positive_by_median[0])
    pos, neg = (r, u) if retrained_positive else (u, r)
    pos_t, neg_t = torch.from_numpy(pos.copy()), torch.from_numpy(neg.copy())
    families = {
        "single": (
            single_threshold_codes(examples, 0, retrained_positive),
            reference.single_threshold_rates(pos_t, neg_t),
        ),
        "interval": (
            interval_codes(
                examples, 0, bool(plan.retrained_peakier[0]), plan.peakier_min[0], plan.peakier_max[0]
            ),
            reference.double_threshold_rates(pos_t, neg_t),
        ),
    }
    for family, (codes, (_, fnr, fpr, _)) in families.items():
        fn, fp = np.divmod(codes, n + 1)
        assert fn.size == fnr.numel(), f"{family}: {fn.size} rules, official {fnr.numel()}"
        # float32(count / N) is the official rate exactly.
        for name, counts, rates in (("fn", fn, fnr), ("fp", fp, fpr)):
            wrong = np.flatnonzero(counts.astype(np.float32) / np.float32(n) != rates.numpy())
            assert wrong.size == 0, f"{family} {name}: rules {wrong[:5]} count {counts[wrong[:5]]}"


def _put_values_on_thresholds(rng, u: np.ndarray, r: np.ndarray) -> None:
    """Replace interior values with thresholds of both grids; minima and maxima (so the grids) stay."""
    pooled = np.concatenate([u, r])
    single = single_threshold_grid(pooled.min(), pooled.max())
    plan = plan_attacks(u[:, None], r[:, None])
    p_min, p_max = plan.peakier_min[0], plan.peakier_max[0]
    right, left = interval_grid(p_min, p_max, p_max - p_min)
    for X in (u, r):
        lo, hi = X.min(), X.max()
        interior = np.flatnonzero((X > lo) & (X < hi))
        candidates = np.concatenate([single, right, left.ravel()])
        candidates = candidates[(candidates > lo) & (candidates < hi)]
        X[interior] = rng.choice(candidates, interior.size)


def test_values_exactly_on_the_thresholds():
    # Values equal to thresholds tell >= from > (single) and <= from < (interval), and catch any
    # threshold that is off by one float32 or float64 ulp.
    rng = np.random.default_rng(5)
    U, R = gaussian_populations(rng, 32, 12, spread=(0.5, 2.0))
    for i in range(U.shape[1]):
        _put_values_on_thresholds(rng, U[:, i], R[:, i])
        _family_counts_match_reference(U[:, i], R[:, i])
    assert_same_epsilons(U, R)


@pytest.mark.parametrize("n_models", [2, 3, 32])
def test_every_rule_counts_like_the_official_code(n_models):
    rng = np.random.default_rng(20 + n_models)
    U, R = gaussian_populations(rng, n_models, 8)
    U[:, :3] = np.round(U[:, :3], 1)
    R[:, :3] = np.round(R[:, :3], 1)
    U[:, 3] = 1.0  # constant
    R[:, 4] = R[0, 4] + np.linspace(0, 0.004, n_models)  # one float32 threshold
    for i in range(U.shape[1]):
        _family_counts_match_reference(U[:, i], R[:, i])


def test_peaky_separated_and_degenerate_examples():
    rng = np.random.default_rng(6)
    n = 16
    base = rng.normal(size=n)
    columns_u, columns_r = [], []

    def add(u, r):
        columns_u.append(np.asarray(u, dtype=np.float64))
        columns_r.append(np.asarray(r, dtype=np.float64))

    add(1.0 + 1e-4 * base, rng.normal(size=n))  # peaky unlearned: ratio < 0.01, cap
    add(rng.normal(size=n), 3.0 + 0.0 * base)  # constant retrained: ratio 0, cap
    add(base, base + 20.0)  # perfectly separated: +inf, clipped to 50
    add(np.full(n, 2.0), np.full(n, 2.0))  # both ranges 0, equal: no rule survives, 0
    add(np.full(n, 0.0), np.full(n, 1.0))  # both ranges 0, apart: separated, 50
    add(np.full(n, 0.0), np.full(n, 0.005))  # both ranges 0, closer than the grid: 0
    # Ratio exactly 0.01: not below it, so the guard stays off and the attacks run.
    add(np.r_[0.0, 0.01, 0.01 * rng.uniform(size=n - 2)], np.r_[0.0, 1.0, rng.uniform(size=n - 2)])
    add(0.1 * base, 0.1 * base)  # identical populations
    add(base, base[::-1] + 1e-3)  # nearly identical
    add(np.linspace(-100, 100, n), np.linspace(-103, 90, n))  # extreme range: ~20,000 thresholds
    add(np.linspace(0.0, 0.004, n), np.linspace(0.001, 0.006, n))  # tiny ranges: one float32 threshold
    eps = assert_same_epsilons(np.stack(columns_u, axis=1), np.stack(columns_r, axis=1))
    assert eps[:3].tolist() == [50.0, 50.0, 50.0]
    assert eps[3] == 0.0 and eps[4] == 50.0 and eps[5] == 0.0
    assert eps[6] < 50.0


def test_all_thread_counts_give_the_same_epsilons():
    rng = np.random.default_rng(7)
    U, R = gaussian_populations(rng, 16, 100)
    one = scoring.example_epsilons(U, R, n_jobs=1)
    assert np.array_equal(one, scoring.example_epsilons(U, R, n_jobs=2))


def test_process_backend_gives_the_same_epsilons():
    from joblib import parallel_config

    rng = np.random.default_rng(8)
    U, R = gaussian_populations(rng, 8, 70)
    with parallel_config(backend="loky", n_jobs=2):
        in_processes = scoring.example_epsilons(U, R)
    assert np.array_equal(in_processes, scoring.example_epsilons(U, R))
