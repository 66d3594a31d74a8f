"""Forgetting quality F from per-example epsilons, and the final score (METRIC.md)."""

from __future__ import annotations

import numpy as np

from scoring.constants import BUCKET_WIDTH, DELTA
from scoring.epsilon import example_epsilons
from scoring.validation import as_epsilons, as_mean_accuracy, as_n_models


def bucket_table(n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket edges [B + 1] and points [B] of F at N models.

    max_eps = ceil(ln(N - 1)); bucket k covers [0.5k, 0.5k + 0.5), is worth 1 / 2**k, and exists
    while its upper end is <= max_eps: B = 2 * max_eps buckets (14 at N = 512, 10 at N = 64,
    none at N = 2, where ln(1) = 0 and every example scores 0).
    """
    n_models = as_n_models(n_models)
    max_epsilon = float(np.ceil(np.log(n_models - 1)))
    n_buckets = int(max_epsilon / BUCKET_WIDTH)
    edges = np.arange(n_buckets + 1) * BUCKET_WIDTH
    points = 0.5 ** np.arange(n_buckets)
    return edges, points


def example_points(epsilons, n_models: int) -> np.ndarray:
    """Points of each example: those of the first bucket whose upper end is > epsilon, else 0.

    An epsilon exactly on an edge belongs to the bucket above it (0.5 earns 1/2, not 1); an
    epsilon >= max_eps, which includes every capped example, earns 0.
    """
    epsilons = as_epsilons(epsilons)
    edges, points = bucket_table(n_models)
    # Number of buckets whose upper end is <= epsilon = index of the bucket it falls in; index B
    # (past the last bucket) earns 0.
    bucket = np.searchsorted(edges[1:], epsilons, side="right")
    return np.append(points, 0.0)[bucket]


def forgetting_quality(epsilons, n_models: int) -> float:
    """F = mean over forget examples of their bucket points (see `example_points`).

    The sum is exact in float64 (points are multiples of 2**-13 at N = 512), so F is the
    official value to the last bit, whatever the summation order.
    """
    points = example_points(epsilons, n_models)
    return float(points.sum() / points.size)


def forget_score(unlearned, retrained, delta: float = DELTA, *, n_jobs: int | None = None) -> float:
    """F of two [N, E] confidence populations: `example_epsilons` then `forgetting_quality`."""
    epsilons = example_epsilons(unlearned, retrained, delta, n_jobs=n_jobs)
    return forgetting_quality(epsilons, np.shape(unlearned)[0])


def final_score(
    forget_quality: float,
    retain_acc_unlearned: float,
    retain_acc_retrained: float,
    test_acc_unlearned: float,
    test_acc_retrained: float,
) -> float:
    """score = F * (RA_U / RA_R) * (TA_U / TA_R), with mean accuracies as fractions in [0, 1].

    The ratios are NOT capped at 1, as in the official code: an unlearned population more
    accurate than the retrained one raises the score above F.
    """
    if np.ndim(forget_quality) != 0 or not 0.0 <= float(forget_quality) <= 1.0:
        raise ValueError(f"forget_quality must be one number in [0, 1], got {forget_quality!r}")
    ra_u = as_mean_accuracy(retain_acc_unlearned, "retain_acc_unlearned")
    ra_r = as_mean_accuracy(retain_acc_retrained, "retain_acc_retrained", positive=True)
    ta_u = as_mean_accuracy(test_acc_unlearned, "test_acc_unlearned")
    ta_r = as_mean_accuracy(test_acc_retrained, "test_acc_retrained", positive=True)
    # The official expression, in its order of operations.
    return float(forget_quality) * (ra_u / ra_r) * (ta_u / ta_r)
