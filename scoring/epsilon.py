"""Per-example epsilon of the official rule (METRIC.md, "Per-example epsilon")."""

from __future__ import annotations

import numpy as np

from scoring.constants import DELTA, EPSILON_CAP
from scoring.epsilon_table import official_epsilon_table
from scoring.rule_codes import plan_attacks
from scoring.runner import reduce_rule_codes
from scoring.validation import as_delta, as_populations


def example_epsilons(unlearned, retrained, delta: float = DELTA, *, n_jobs: int | None = None) -> np.ndarray:
    """Epsilon of each forget example, float64 [E], identical to the official scorer's.

    `unlearned` and `retrained` are [N, E] logit-scaled confidences (one row per model, one column
    per forget example, same N and E). For each example:

    1. positive = the population with the larger median (unlearned when medians are equal);
    2. peaky guard: min(range) / max(range) < 0.01 gives the cap, 50, with no attack. When both
       ranges are 0 the ratio is NaN and the guard does NOT fire (official quirk);
    3. every rule of both families (single threshold on a float32 torch.linspace grid, ~160,000
       interval rules on float64 grids around the peakier population) gets an epsilon from its
       error counts (+inf for perfect separation, discarded when exactly one error rate is 0);
    4. epsilon = max over surviving rules, clipped to [0, 50] (so +inf becomes 50).

    Values are float32-rounded like the official ones (its rule epsilons are float32), returned
    as float64. When no rule survives (every rule has an error rate of 0 or both rates 1, e.g. two
    constant populations equal or closer than the 0.01 grid spacing) the official code stops on an
    assertion; here the epsilon is 0: no rule of the metric can tell the populations apart.

    Cost: ~160,000 rules per example, counted with np.searchsorted on each example's sorted values
    (about 3-5 ms per example per core). `n_jobs` spreads chunks of examples over joblib workers
    (threads by default; None means 1 unless inside `joblib.parallel_config`).
    """
    U, R = as_populations(unlearned, retrained)
    table = official_epsilon_table(U.shape[0], as_delta(delta)).ravel()
    plan = plan_attacks(U, R)
    epsilons = np.full(U.shape[1], EPSILON_CAP)
    attacked = np.flatnonzero(~plan.peaky)
    best = reduce_rule_codes(U, R, plan, attacked, _MaxRuleEpsilon(table), n_jobs=n_jobs)
    # -inf: no surviving rule (see the docstring); +inf: perfect separation, clipped to the cap.
    best[best == -np.inf] = 0.0
    epsilons[attacked] = np.clip(best, 0.0, EPSILON_CAP)
    return epsilons


class _MaxRuleEpsilon:
    """Largest table epsilon over an example's rules (-inf when every rule is discarded)."""

    def __init__(self, table: np.ndarray):
        self.table = table

    def __call__(self, interval: np.ndarray, single: np.ndarray) -> float:
        best = np.float32(-np.inf)
        for codes in (interval, single):
            if codes.size:
                best = max(best, self.table.take(codes).max())
        return float(best)
