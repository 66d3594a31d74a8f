"""What a perfect unlearner would score: F of the retrained population against itself."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scoring.constants import DELTA
from scoring.forgetting import forget_score
from scoring.validation import as_confidences, as_positive_int

# Each half needs at least 2 models.
_MIN_MODELS = 4


class CalibrationReference(NamedTuple):
    """F of retrained-vs-retrained halves: mean and spread over random splits."""

    forget_quality: float  # mean over splits
    spread: float  # standard deviation over splits (0 for one split)
    samples: np.ndarray  # F of each split
    n_models: int  # models per half: the N at which the reference is measured


def calibration_reference(
    retrained,
    *,
    n_splits: int = 5,
    seed: int = 0,
    delta: float = DELTA,
    n_jobs: int | None = None,
) -> CalibrationReference:
    """F of two random halves of the retrained population against each other, over `n_splits` splits.

    Both halves come from the same distribution, so this is what a PERFECT unlearner (one whose
    outputs are distributed exactly like retraining) would score, at N/2 models per population
    (one model is left out when N is odd). It is well below 1: the max over ~160,000 rules on
    finite samples inflates epsilon (METRIC.md, "Known properties"). It estimates the ceiling at N
    only approximately: at N/2 the buckets stop one or two earlier (max_eps = ceil(ln(N/2 - 1)))
    and each epsilon is noisier, though for identical distributions F stays near 0.17-0.19 for N
    from 32 to 1024. Each split costs one full scoring of E examples.
    """
    R = as_confidences(retrained, "retrained")
    if R.shape[0] < _MIN_MODELS:
        raise ValueError(
            f"retrained has {R.shape[0]} models; splitting it in two halves of at least 2 needs {_MIN_MODELS}"
        )
    n_splits = as_positive_int(n_splits, "n_splits")
    half = R.shape[0] // 2
    rng = np.random.default_rng(seed)
    samples = np.empty(n_splits, dtype=np.float64)
    for split in range(n_splits):
        order = rng.permutation(R.shape[0])
        samples[split] = forget_score(R[order[:half]], R[order[half : 2 * half]], delta, n_jobs=n_jobs)
    spread = float(samples.std(ddof=1)) if n_splits > 1 else 0.0
    return CalibrationReference(float(samples.mean()), spread, samples, half)
