"""Each special rule of the official metric, on hand-computed cases."""

import math

import numpy as np
import pytest

import scoring
from scoring.epsilon_table import official_epsilon_table
from scoring.rule_codes import plan_attacks
from scoring_reference import reference_forget_score


# --- rule epsilons (the (fn, fp) table) ---------------------------------------------------------
def test_perfect_separation_is_infinite_and_one_zero_rate_is_discarded():
    table = official_epsilon_table(4)
    assert table[0, 0] == np.inf
    assert (table[0, 1:] == -np.inf).all() and (table[1:, 0] == -np.inf).all()


def test_rule_epsilon_is_the_float32_formula():
    table = official_epsilon_table(4)
    assert table.dtype == np.float32
    # FNR = FPR = 1/4: log((1 - 1e-5 - 0.25) / 0.25) = log(2.99996)
    assert table[1, 1] == pytest.approx(math.log(2.99996), abs=1e-6)
    expected = np.log(np.float32(1 - 1e-5) - np.float32(0.25)) - np.log(np.float32(0.25))
    assert table[1, 1] == expected
    # FNR = 1/4, FPR = 3/4: both terms are negative, clipped to 0 (a surviving rule worth 0).
    assert table[1, 3] == 0.0 and table[3, 1] == 0.0


def test_rate_of_one_takes_the_other_term_and_two_rates_of_one_are_discarded():
    table = official_epsilon_table(4)
    # FNR = 1: log(1 - delta - 1) is NaN, nanmax keeps log(1 - delta - 1/4) - log(1) < 0 -> 0.
    assert table[4, 1] == 0.0 and table[1, 4] == 0.0
    # FNR = FPR = 1: both NaN, the rule is discarded.
    assert table[4, 4] == -np.inf


def test_largest_finite_epsilon_is_about_log_n_minus_one():
    table = official_epsilon_table(512)
    finite = table[np.isfinite(table)]
    assert finite.max() == table[1, 1]
    assert finite.max() == pytest.approx(math.log(511), abs=1e-3)  # 6.24 at N = 512


def test_two_models_give_only_zero_or_the_cap():
    # With N = 2 every surviving rule has rates in {1/2, 1} and epsilon 0, or separates perfectly.
    rng = np.random.default_rng(0)
    eps = scoring.example_epsilons(rng.normal(size=(2, 200)), rng.normal(size=(2, 200)) + 1.0)
    assert set(np.unique(eps)) <= {0.0, 50.0} and (eps == 0).any() and (eps == 50).any()


# --- per-example rules ----------------------------------------------------------------------------
def test_perfectly_separated_example_gets_the_cap():
    U = np.array([[0.0], [0.1], [0.2], [0.3]])
    assert scoring.example_epsilons(U, U + 5.0).tolist() == [50.0]


def test_discarded_rules_never_win():
    # N = 2, u = {0, 1}, r = {1, 2}: every rule that separates something has one error rate 0
    # (e.g. t in (1, 2]: fn = 1, fp = 0) and is discarded; the only survivors contain the shared
    # value 1 (fn = fp = 1, epsilon log(0.49999 / 0.5) < 0, clipped to 0). Counting the discarded
    # rules would give +inf, hence 50.
    U = np.array([[0.0], [1.0]])
    R = np.array([[1.0], [2.0]])
    assert scoring.example_epsilons(U, R).tolist() == [0.0]


def test_peaky_example_is_capped_without_attack():
    rng = np.random.default_rng(1)
    U = 1.0 + 1e-5 * rng.normal(size=(16, 1))  # range ratio ~1e-5 < 0.01
    R = rng.normal(size=(16, 1))
    assert plan_attacks(U, R).peaky.tolist() == [True]
    assert scoring.example_epsilons(U, R).tolist() == [50.0]


def test_range_ratio_exactly_one_percent_is_not_peaky():
    U = np.array([[0.0], [0.01], [0.005], [0.002]])
    R = np.array([[0.0], [1.0], [0.5], [0.3]])
    assert plan_attacks(U, R).peaky.tolist() == [False]
    assert scoring.example_epsilons(U, R)[0] < 50.0


def test_both_ranges_zero():
    # The guard sees 0 / 0 = NaN and does not fire; the attacks run on an empty single grid.
    same = np.full((8, 1), 0.7)
    assert plan_attacks(same, same).peaky.tolist() == [False]
    assert scoring.example_epsilons(same, same).tolist() == [0.0]  # no rule survives: 0
    assert scoring.example_epsilons(same, same + 1.0).tolist() == [50.0]  # separated
    assert scoring.example_epsilons(same, same + 0.005).tolist() == [0.0]  # closer than the grid


def test_equal_medians_make_the_unlearned_set_positive():
    U = np.array([[-1.0], [0.0], [1.0]])
    R = np.array([[-3.0], [0.0], [3.0]])
    assert plan_attacks(U, R).retrained_positive_by_median.tolist() == [False]
    assert plan_attacks(U, R + 1e-9).retrained_positive_by_median.tolist() == [True]


def test_epsilons_are_float32_values():
    rng = np.random.default_rng(2)
    eps = scoring.example_epsilons(rng.normal(size=(64, 50)), rng.normal(size=(64, 50)))
    assert eps.dtype == np.float64
    assert np.array_equal(eps, eps.astype(np.float32).astype(np.float64))


# --- buckets and F --------------------------------------------------------------------------------
@pytest.mark.parametrize("n_models, n_buckets", [(2, 0), (3, 2), (64, 10), (128, 10), (512, 14), (1024, 14)])
def test_bucket_counts(n_models, n_buckets):
    edges, points = scoring.bucket_table(n_models)
    assert points.size == n_buckets == 2 * math.ceil(math.log(n_models - 1))
    assert edges.tolist() == [0.5 * k for k in range(n_buckets + 1)]
    assert points.tolist() == [0.5**k for k in range(n_buckets)]


@pytest.mark.parametrize(
    "epsilon, points",
    [
        (0.0, 1.0),
        (np.nextafter(0.5, 0), 1.0),
        (0.5, 0.5),  # exactly on an edge: the bucket above
        (1.0, 0.25),
        (6.5, 2.0**-13),
        (6.99, 2.0**-13),
        (7.0, 0.0),  # max_eps = ceil(ln 511) = 7: no points
        (50.0, 0.0),
        (np.inf, 0.0),
    ],
)
def test_points_at_n512(epsilon, points):
    assert scoring.forgetting_quality([epsilon], 512) == points
    assert reference_forget_score([epsilon], 512) == points


def test_buckets_at_n64_stop_at_five():
    eps = [4.49, 4.5, 4.99, 5.0]
    assert scoring.example_points(eps, 64).tolist() == [2.0**-8, 2.0**-9, 2.0**-9, 0.0]
    assert scoring.forgetting_quality(eps, 64) == reference_forget_score(eps, 64)


def test_forgetting_quality_matches_the_official_loop():
    rng = np.random.default_rng(3)
    eps = np.round(rng.uniform(0, 8, 1001) * 4) / 4  # many values exactly on edges
    for n in (3, 32, 64, 512):
        assert scoring.forgetting_quality(eps, n) == reference_forget_score(eps, n)
    assert scoring.forgetting_quality(eps, 2) == 0.0


# --- final score ----------------------------------------------------------------------------------
def test_final_score_is_the_official_product_and_ratios_are_not_capped():
    assert scoring.final_score(0.5, 0.9, 0.8, 0.7, 0.7) == 0.5 * (0.9 / 0.8) * (0.7 / 0.7)
    assert scoring.final_score(0.5, 0.9, 0.8, 0.7, 0.7) > 0.5
    assert scoring.final_score(0.2, 0.6, 0.8, 0.5, 0.9) == 0.2 * (0.6 / 0.8) * (0.5 / 0.9)


def test_forget_score_is_epsilons_then_quality():
    rng = np.random.default_rng(4)
    U, R = rng.normal(size=(16, 40)), rng.normal(size=(16, 40)) + 0.3
    eps = scoring.example_epsilons(U, R)
    assert scoring.forget_score(U, R) == scoring.forgetting_quality(eps, 16)
