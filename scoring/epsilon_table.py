"""Epsilon of one decision rule, as a table over its two error counts.

With N models per population, a rule's rates are FNR = fn / N and FPR = fp / N, so its epsilon
depends only on the integer pair (fn, fp): the whole rule family of an example reduces to table
lookups. The table reproduces the official arithmetic, special cases and quirks included:

- fn == fp == 0: +inf (perfect separation).
- exactly one of fn, fp is 0: the rule is discarded (stored as -inf, so it never wins a max).
- otherwise eps = max(log(1 - delta - FPR) - log(FNR), log(1 - delta - FNR) - log(FPR)),
  clipped below at 0. The official code computes this in float32 (its rates are float32 means
  of booleans, and NumPy keeps `1 - delta - rate` in float32), so the values here are float32.
  When a rate is 1, `log(1 - delta - 1)` is the log of a negative number, NaN, and the NaN-ignoring
  max keeps the other term; when both rates are 1 both terms are NaN and the rule is discarded.
"""

from __future__ import annotations

import numpy as np

from scoring.constants import DELTA

DISCARDED = -np.inf


def official_epsilon_table(n_models: int, delta: float = DELTA) -> np.ndarray:
    """float32 [N + 1, N + 1] table of rule epsilons indexed [false negatives, false positives].

    +inf marks perfect separation, -inf a discarded rule (see the module docstring).
    Rates are float32(count / N), the value torch.mean of float32 booleans gives on CPU (a sum,
    then a division). A GPU reduction multiplies by a float32 1/N instead, which can differ in
    the last bit when N is not a power of two; for the official N = 512 both are exact.
    """
    counts = np.arange(n_models + 1, dtype=np.float32)
    rates = counts / np.float32(n_models)
    # `1 - delta - rate` in the official code: Python computes 1 - delta in float64, then NumPy
    # rounds it to float32 to subtract a float32 array.
    keep = np.float32(1.0 - float(delta)) - rates
    with np.errstate(divide="ignore", invalid="ignore"):
        log_keep = np.log(keep)
        log_rate = np.log(rates)
        # [fn, fp]: log(1 - delta - FPR) - log(FNR) and log(1 - delta - FNR) - log(FPR), float32.
        against_fnr = log_keep[np.newaxis, :] - log_rate[:, np.newaxis]
        against_fpr = log_keep[:, np.newaxis] - log_rate[np.newaxis, :]
        # np.nanmax over the pair: NaN only when both are NaN; np.clip keeps NaN.
        table = np.maximum(np.fmax(against_fnr, against_fpr), np.float32(0))
    table[np.isnan(table)] = DISCARDED
    table[0, :] = DISCARDED
    table[:, 0] = DISCARDED
    table[0, 0] = np.inf
    return table
