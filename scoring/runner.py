"""Run the attacks of many examples in parallel and reduce each example's rules to one number.

Examples are independent, so they are cut into chunks and the chunks run through joblib. NumPy
releases the GIL in the sorts, searches and gathers that dominate, so threads are the default
backend (no copies, no start-up); `joblib.parallel_config` can select another one. Inside a chunk
the sort is vectorised over examples, and each example's work is vectorised over its ~160,000
rules; memory stays at a few tens of MB per worker.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from scoring.rule_codes import AttackPlan, SortedExamples, interval_codes, single_threshold_codes

# (interval-rule codes, single-threshold-rule codes) of one example -> one number for it.
Reducer = Callable[[np.ndarray, np.ndarray], float]

# At most this many examples per chunk (the per-chunk overhead is already negligible at 32), and
# about this many chunks per worker so that uneven examples still balance.
_MAX_CHUNK = 32
_CHUNKS_PER_WORKER = 4


def reduce_rule_codes(
    U: np.ndarray,
    R: np.ndarray,
    plan: AttackPlan,
    examples: np.ndarray,
    reducer: Reducer,
    n_jobs: int | None = None,
) -> np.ndarray:
    """reducer(interval codes, single codes) for each example index in `examples`, float64 [len].

    `n_jobs` follows joblib: None is 1 unless inside a `joblib.parallel_config` block, -1 all CPUs.
    """
    examples = np.asarray(examples, dtype=np.int64)
    if examples.size == 0:
        return np.empty(0, dtype=np.float64)
    workers = effective_n_jobs(n_jobs)
    size = max(1, min(_MAX_CHUNK, -(-examples.size // (_CHUNKS_PER_WORKER * workers))))
    chunks = [examples[i : i + size] for i in range(0, examples.size, size)]
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_reduce_chunk)(
            U[:, chunk],
            R[:, chunk],
            plan.retrained_positive_by_median[chunk],
            plan.retrained_peakier[chunk],
            plan.peakier_min[chunk],
            plan.peakier_max[chunk],
            reducer,
        )
        for chunk in chunks
    )
    return np.concatenate(results)


def _reduce_chunk(
    U: np.ndarray,
    R: np.ndarray,
    retrained_positive: np.ndarray,
    retrained_peakier: np.ndarray,
    peakier_min: np.ndarray,
    peakier_max: np.ndarray,
    reducer: Reducer,
) -> np.ndarray:
    examples = SortedExamples.from_populations(U, R)
    out = np.empty(U.shape[1], dtype=np.float64)
    for column in range(U.shape[1]):
        interval = interval_codes(
            examples, column, bool(retrained_peakier[column]), float(peakier_min[column]), float(peakier_max[column])
        )
        single = single_threshold_codes(examples, column, bool(retrained_positive[column]))
        out[column] = reducer(interval, single)
    return out
