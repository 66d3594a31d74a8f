"""Everything the official rule computes for one evaluation, in one call."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scoring.constants import DELTA
from scoring.epsilon import example_epsilons
from scoring.forgetting import final_score, forgetting_quality
from scoring.validation import as_model_accuracies, as_populations


class ScoreSummary(NamedTuple):
    """The final score, its factors, and the per-example epsilons behind F."""

    score: float
    forget_quality: float
    retain_acc_unlearned: float
    retain_acc_retrained: float
    test_acc_unlearned: float
    test_acc_retrained: float
    retain_acc_ratio: float  # not capped at 1 (official)
    test_acc_ratio: float
    n_models: int
    n_examples: int
    epsilons: np.ndarray


def score_summary(
    unlearned,
    retrained,
    retain_acc_unlearned,
    retain_acc_retrained,
    test_acc_unlearned,
    test_acc_retrained,
    *,
    delta: float = DELTA,
    n_jobs: int | None = None,
) -> ScoreSummary:
    """Score two [N, E] confidence populations with PER-MODEL accuracy arrays [N] (fractions).

    The mean accuracies over the N models of each population enter `final_score`, as in the
    official main.py.
    """
    U, R = as_populations(unlearned, retrained)
    n = U.shape[0]
    ra_u, ra_r, ta_u, ta_r = (
        float(as_model_accuracies(values, name, n).mean())
        for values, name in (
            (retain_acc_unlearned, "retain_acc_unlearned"),
            (retain_acc_retrained, "retain_acc_retrained"),
            (test_acc_unlearned, "test_acc_unlearned"),
            (test_acc_retrained, "test_acc_retrained"),
        )
    )
    epsilons = example_epsilons(U, R, delta, n_jobs=n_jobs)
    quality = forgetting_quality(epsilons, n)
    return ScoreSummary(
        score=final_score(quality, ra_u, ra_r, ta_u, ta_r),
        forget_quality=quality,
        retain_acc_unlearned=ra_u,
        retain_acc_retrained=ra_r,
        test_acc_unlearned=ta_u,
        test_acc_retrained=ta_r,
        retain_acc_ratio=ra_u / ra_r,
        test_acc_ratio=ta_u / ta_r,
        n_models=n,
        n_examples=U.shape[1],
        epsilons=epsilons,
    )
