"""Bootstrap intervals for F and the final score: how much a ranking could move by chance."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scoring.constants import DELTA, RESAMPLE_KINDS
from scoring.epsilon import example_epsilons
from scoring.forgetting import example_points, final_score, forget_score
from scoring.validation import (
    as_confidence_level,
    as_model_accuracies,
    as_populations,
    as_positive_int,
)


class Interval(NamedTuple):
    """A point estimate with a percentile bootstrap interval and the resampled values behind it."""

    estimate: float
    low: float
    high: float
    samples: np.ndarray


def bootstrap_forget_quality(
    unlearned,
    retrained,
    *,
    resample: str = "examples",
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    delta: float = DELTA,
    n_jobs: int | None = None,
) -> Interval:
    """F with a percentile bootstrap interval.

    resample="examples": the forget examples are drawn with replacement and F is the mean of their
      (already computed) points: one epsilon computation in all, then negligible cost. It measures
      how F depends on which examples form the forget set.
    resample="models": the N unlearned and the N retrained models are drawn with replacement
      (independently) and every epsilon is recomputed: n_resamples full scorings (at N = 512 and
      E = 5,000, about n_resamples x 10 s on two cores). It measures how F depends on the finite
      populations of models. Duplicated models make ties, which the rule handles like any value.
    The same seed, N and E give the same resample indices, so two submissions scored against the
    same retrained models get paired samples.
    """
    U, R = as_populations(unlearned, retrained)
    return _bootstrap(U, R, None, resample, n_resamples, confidence, seed, delta, n_jobs)


def bootstrap_final_score(
    unlearned,
    retrained,
    retain_acc_unlearned,
    retain_acc_retrained,
    test_acc_unlearned,
    test_acc_retrained,
    *,
    resample: str = "examples",
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    delta: float = DELTA,
    n_jobs: int | None = None,
) -> Interval:
    """The final score with a percentile bootstrap interval; accuracies are PER-MODEL arrays [N].

    resample="models": each resample draws unlearned models (their confidences and accuracies
      together) and retrained models with replacement, recomputes every epsilon (n_resamples full
      scorings, see `bootstrap_forget_quality`) and the mean accuracies.
    resample="examples": forget examples are resampled for F (cheap); the accuracy ratios are
      properties of the models, not of the forget set, so they stay at their full-population values.
    """
    U, R = as_populations(unlearned, retrained)
    n = U.shape[0]
    accuracies = (
        as_model_accuracies(retain_acc_unlearned, "retain_acc_unlearned", n),
        as_model_accuracies(retain_acc_retrained, "retain_acc_retrained", n),
        as_model_accuracies(test_acc_unlearned, "test_acc_unlearned", n),
        as_model_accuracies(test_acc_retrained, "test_acc_retrained", n),
    )
    for values, name in zip(accuracies[1::2], ("retain_acc_retrained", "test_acc_retrained")):
        if values.mean() == 0:
            raise ValueError(f"{name} averages 0; it divides the score, so the retrained models need some accuracy")
    return _bootstrap(U, R, accuracies, resample, n_resamples, confidence, seed, delta, n_jobs)


def _bootstrap(U, R, accuracies, resample, n_resamples, confidence, seed, delta, n_jobs) -> Interval:
    if resample not in RESAMPLE_KINDS:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE_KINDS)}, got {resample!r}")
    n_resamples = as_positive_int(n_resamples, "n_resamples")
    confidence = as_confidence_level(confidence)
    rng = np.random.default_rng(seed)
    n_models, n_examples = U.shape

    def score(forget_quality: float, unlearned_rows=slice(None), retrained_rows=slice(None)) -> float:
        if accuracies is None:
            return forget_quality
        ra_u, ra_r, ta_u, ta_r = (
            values[rows].mean()
            for values, rows in zip(accuracies, (unlearned_rows, retrained_rows) * 2)
        )
        # Resampled retrained models can all have accuracy 0 only if most do; report it, not crash.
        if ra_r == 0 or ta_r == 0:
            return float("nan")
        return final_score(forget_quality, ra_u, ra_r, ta_u, ta_r)

    epsilons = example_epsilons(U, R, delta, n_jobs=n_jobs)
    points = example_points(epsilons, n_models)
    estimate = score(float(points.sum() / n_examples))
    samples = np.empty(n_resamples, dtype=np.float64)
    if resample == "examples":
        for b in range(n_resamples):
            drawn = rng.integers(0, n_examples, n_examples)
            samples[b] = score(float(points[drawn].sum() / n_examples))
    else:
        for b in range(n_resamples):
            unlearned_rows = rng.integers(0, n_models, n_models)
            retrained_rows = rng.integers(0, n_models, n_models)
            quality = forget_score(U[unlearned_rows], R[retrained_rows], delta, n_jobs=n_jobs)
            samples[b] = score(quality, unlearned_rows, retrained_rows)
    alpha = 1.0 - confidence
    low, high = np.nanquantile(samples, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate=estimate, low=float(low), high=float(high), samples=samples)
