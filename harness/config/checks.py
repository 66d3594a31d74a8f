"""The rules a setting must satisfy, one function each, shared by every boundary that accepts it.

The competition reader applies them to a file's keys, the run and pool settings to flags and
arguments; each caller puts the name of what was wrong in front (`<file>: n_models: ...`,
`--n-models ...`), so the same mistake reads the same everywhere. Standard library only.
"""

from __future__ import annotations

import math
from typing import Any

# The metric compares two populations of models: a scored evaluation needs at least two of each.
# (A retrain pool may hold any number: it grows model by model.)
MIN_SCORED_MODELS = 2


def count_problem(value: Any, minimum: int = 1) -> str | None:
    """Why `value` cannot be a count of at least `minimum`, or None when it can."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        return f"must be {wanted}, got {value!r}"
    return None


def time_cutoff_problem(value: Any) -> str | None:
    """Why `value` cannot be a time cutoff, or None when it can: the one rule for competition
    files and --time-cutoff alike. A cutoff is the allowed unlearning time as a fraction of one
    retrain: positive and finite; above 1 is allowed (e.g. tests that must never run over time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"must be a positive, finite fraction of one retrain (e.g. 0.1; above 1 allows more than a retrain), got {value!r}"
    return None
