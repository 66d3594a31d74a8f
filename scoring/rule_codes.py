"""Every decision rule's (false negatives, false positives) on one forget example, as one integer code.

A rule's epsilon depends only on its false-negative and false-positive counts (fn, fp), encoded
as `fn * (N + 1) + fp`, an index into the flat epsilon table. Counting is done on the 2N values of
the example sorted once: with "how many of each population lie below position k" precomputed, a
threshold's counts are one np.searchsorted and one lookup, for all thresholds of a family at once.

Which population plays "positive" differs between the families (official rule):
- single threshold: the one with the larger median (the unlearned one when medians are equal);
- interval: the peakier one, i.e. with the smaller range (when ranges are equal, the one that was
  NOT positive by median).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.constants import PEAKY_RANGE_RATIO
from scoring.grids import interval_grid, single_threshold_grid


def encode_counts(false_negatives, false_positives, n_models: int):
    """Index of (fn, fp) in a flat [N + 1, N + 1] table."""
    return false_negatives * (n_models + 1) + false_positives


@dataclass(frozen=True)
class AttackPlan:
    """Per-example decisions of the official rule that need no attack, for all E examples at once."""

    retrained_positive_by_median: np.ndarray  # [E] bool: median(r) > median(u)
    retrained_peakier: np.ndarray  # [E] bool: the interval family's positive set is the retrained one
    peakier_min: np.ndarray  # [E] float64: min of the peakier population
    peakier_max: np.ndarray  # [E] float64: max of the peakier population
    peaky: np.ndarray  # [E] bool: the guard fires (epsilon = cap, no attack)


def plan_attacks(U: np.ndarray, R: np.ndarray) -> AttackPlan:
    """Labels, peakier population and guard for every column of two [N, E] populations."""
    retrained_positive = np.median(R, axis=0) > np.median(U, axis=0)
    u_min, u_max = U.min(axis=0), U.max(axis=0)
    r_min, r_max = R.min(axis=0), R.max(axis=0)
    u_range, r_range = u_max - u_min, r_max - r_min
    positive_range = np.where(retrained_positive, r_range, u_range)
    negative_range = np.where(retrained_positive, u_range, r_range)
    # The interval family swaps when range(positive) >= range(negative): on a tie the
    # median-negative population becomes the peakier one.
    swap = positive_range >= negative_range
    retrained_peakier = np.where(swap, ~retrained_positive, retrained_positive)
    with np.errstate(invalid="ignore"):
        # Both ranges 0 gives 0 / 0 = NaN, which is not < 0.01: the guard does not fire (quirk).
        ratio = np.minimum(u_range, r_range) / np.maximum(u_range, r_range)
    return AttackPlan(
        retrained_positive_by_median=retrained_positive,
        retrained_peakier=retrained_peakier,
        peakier_min=np.where(retrained_peakier, r_min, u_min),
        peakier_max=np.where(retrained_peakier, r_max, u_max),
        peaky=ratio < PEAKY_RANGE_RATIO,
    )


@dataclass(frozen=True)
class SortedExamples:
    """The 2N values of each example of a chunk, sorted, with running counts of retrained values.

    values[c] is example c's pooled values in ascending order (one contiguous row, as
    np.searchsorted wants); retrained_below[c, k] counts the retrained values among its k smallest
    (k = 0..2N), so any threshold's counts are one lookup.
    """

    values: np.ndarray  # [C, 2N]
    retrained_below: np.ndarray  # [C, 2N + 1]
    n_models: int

    @classmethod
    def from_populations(cls, U: np.ndarray, R: np.ndarray) -> "SortedExamples":
        """Sort the columns of [N, C] unlearned and retrained confidences, all examples at once."""
        n_models = U.shape[0]
        pooled = np.concatenate([U, R], axis=0).T
        order = np.argsort(pooled, axis=1)  # ties may come in any order: only counts below a value matter
        values = np.take_along_axis(pooled, order, axis=1)
        retrained_below = np.zeros((U.shape[1], 2 * n_models + 1), dtype=np.int64)
        np.cumsum(order >= n_models, axis=1, out=retrained_below[:, 1:])
        return cls(values=values, retrained_below=retrained_below, n_models=n_models)

    def below(self, column: int, retrained: bool) -> np.ndarray:
        """[2N + 1] counts of one population among the k smallest values of an example."""
        from_retrained = self.retrained_below[column]
        return from_retrained if retrained else np.arange(from_retrained.size) - from_retrained


def single_threshold_codes(examples: SortedExamples, column: int, retrained_positive: bool) -> np.ndarray:
    """Outcome codes of the single-threshold rules of one example ("positive" when phi >= t)."""
    n = examples.n_models
    values = examples.values[column]
    thresholds = single_threshold_grid(values[0], values[-1])
    # Values < t are predicted negative: fn = positives below t, fp = N - negatives below t.
    positives_below = examples.below(column, retrained_positive)
    negatives_below = examples.below(column, not retrained_positive)
    code_at = encode_counts(positives_below, n - negatives_below, n)
    return code_at[np.searchsorted(values, thresholds, side="left")]


def interval_codes(
    examples: SortedExamples, column: int, retrained_peakier: bool, peakier_min: float, peakier_max: float
) -> np.ndarray:
    """Outcome codes of the interval rules of one example ("positive" when l <= phi <= r)."""
    n = examples.n_models
    values = examples.values[column]
    width = peakier_max - peakier_min
    right, left = interval_grid(peakier_min, peakier_max, width)
    # A left threshold above its right one is an empty interval (no value inside). Moving it to
    # the next float after r keeps it empty while making both counts exactly 0 below, instead of
    # negative differences.
    np.minimum(left, np.nextafter(right, np.inf)[:, np.newaxis], out=left)
    # Inside [l, r]: (values <= r) - (values < l), for the peakier (P) and the other (Q) population.
    # code = (N - inside_P) * (N + 1) + inside_Q splits into a per-row part and a per-l part.
    p_below = examples.below(column, retrained_peakier)
    q_below = examples.below(column, not retrained_peakier)
    left_part = p_below * (n + 1) - q_below
    right_at = np.searchsorted(values, right, side="right")
    row_part = n * (n + 1) - left_part[right_at]
    left_at = np.searchsorted(values, left.ravel(), side="left").reshape(left.shape)
    codes = left_part[left_at]
    codes += row_part[:, np.newaxis]
    return codes.ravel()
