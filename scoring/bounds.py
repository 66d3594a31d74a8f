"""Lower confidence bounds on each example's epsilon (Clopper-Pearson), as privacy audits report.

The official epsilon plugs the observed error rates into the (epsilon, delta) inequality; with
N samples per population those rates are noisy, and the max over ~160,000 rules inflates them.
An audit (Jagielski et al. 2020, "Auditing differentially private machine learning"; Nasr et al.
2021, "Adversary instantiation") instead bounds the TRUE rates from above and reports the epsilon
those bounds imply: a value the data supports at a stated confidence.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats

from scoring.constants import DELTA
from scoring.rule_codes import plan_attacks
from scoring.runner import reduce_rule_codes
from scoring.validation import as_confidence_level, as_delta, as_populations

CORRECTIONS = ("bonferroni", "none")


def epsilon_lower_bounds(
    unlearned,
    retrained,
    confidence: float = 0.95,
    delta: float = DELTA,
    correction: str = "bonferroni",
    *,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Lower confidence bound on each example's epsilon, float64 [E] (>= 0).

    For every rule of both attack families (the official grids), the true FPR and FNR are bounded
    from above by one-sided Clopper-Pearson bounds at level alpha_rate each (fp or fn errors out of
    N Binomial trials); the rule's bound is
    max(log(1 - delta - FPR+) - log(FNR+), log(1 - delta - FNR+) - log(FPR+)), a term counting for
    nothing when 1 - delta - rate+ <= 0. The example's bound is the largest over its rules, at
    least 0. Perfect separation gives a finite bound (FNR+ > 0), about ln(N / ln(1/alpha_rate)).

    correction:
      "bonferroni" (default): alpha_rate = (1 - confidence) / (2 m), m = the number of rules
        evaluated for that example (~160,400 plus its single thresholds). All 2m rate bounds then
        hold together with probability >= confidence, so the max over rules, chosen after seeing
        the data, is still a valid bound for that example.
      "none": alpha_rate = (1 - confidence) / 2, valid only for one rule fixed in advance; the max
        over rules makes it optimistic (shown for comparison with audits that do not correct).

    Unlike the official epsilon: rates are float64, there is no peaky guard and no cap of 50 (the
    cap is a convention, not a measurement), and no rule is discarded. The level holds per example,
    not for all E examples together (use confidence = 1 - alpha / E for that). The grids are placed
    with the same samples (their min and max); Bonferroni over the number of rules does not account
    for that choice, which a strict audit would make on held-out models. Models are treated as
    independent draws; unlearned models share their one original model, so the bound is about the
    unlearning algorithm's randomness given that model, as the metric itself is.
    Cost: that of `example_epsilons` plus one table per distinct rule count.
    """
    U, R = as_populations(unlearned, retrained)
    confidence = as_confidence_level(confidence)
    delta = as_delta(delta)
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    plan = plan_attacks(U, R)
    reducer = _MaxRuleLowerBound(U.shape[0], delta, 1.0 - confidence, correction)
    bounds = reduce_rule_codes(U, R, plan, np.arange(U.shape[1]), reducer, n_jobs=n_jobs)
    return np.maximum(bounds, 0.0)


def clopper_pearson_upper(errors: np.ndarray, n_trials: int, alpha: float) -> np.ndarray:
    """One-sided upper (1 - alpha) Clopper-Pearson bound on a Binomial rate from k errors in n trials."""
    errors = np.asarray(errors)
    upper = np.ones(errors.shape, dtype=np.float64)
    below = errors < n_trials
    upper[below] = stats.beta.isf(alpha, errors[below] + 1, n_trials - errors[below])
    return upper


@lru_cache(maxsize=256)
def _lower_bound_table(n_models: int, delta: float, alpha_rate: float) -> np.ndarray:
    """Flat [(N + 1)**2] table of rule lower bounds indexed by fn * (N + 1) + fp."""
    upper = clopper_pearson_upper(np.arange(n_models + 1), n_models, alpha_rate)
    keep = 1.0 - delta - upper
    log_keep = np.full(upper.shape, -np.inf)
    np.log(keep, out=log_keep, where=keep > 0)
    log_upper = np.log(upper)
    against_fnr = log_keep[np.newaxis, :] - log_upper[:, np.newaxis]  # [fn, fp]
    against_fpr = log_keep[:, np.newaxis] - log_upper[np.newaxis, :]
    return np.maximum(against_fnr, against_fpr).ravel()


class _MaxRuleLowerBound:
    """Largest rule lower bound of one example, at the level its number of rules calls for."""

    def __init__(self, n_models: int, delta: float, alpha: float, correction: str):
        self.n_models, self.delta, self.alpha, self.correction = n_models, delta, alpha, correction

    def __call__(self, interval: np.ndarray, single: np.ndarray) -> float:
        n_rules = interval.size + single.size
        per_rule = self.alpha / n_rules if self.correction == "bonferroni" else self.alpha
        table = _lower_bound_table(self.n_models, self.delta, per_rule / 2)
        best = -np.inf
        for codes in (interval, single):
            if codes.size:
                best = max(best, float(table.take(codes).max()))
        return best
