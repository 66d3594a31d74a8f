"""Checks at the public boundary: every problem becomes a ValueError that names it and the fix."""

from __future__ import annotations

import numbers

import numpy as np

from scoring.constants import MAX_ABS_CONFIDENCE


def as_populations(unlearned, retrained) -> tuple[np.ndarray, np.ndarray]:
    """The two confidence populations as float64 [N, E] arrays, checked against each other.

    Both must be 2-D [models, forget examples] with the same shape, at least 2 models and 1
    example, and only finite values no larger in magnitude than a logit-scaled confidence can be.
    Different numbers of models are rejected: the official rule uses one N for its rates and its
    buckets (max_eps = ceil(ln(N - 1))), so populations of different sizes have no defined score.
    """
    U = as_confidences(unlearned, "unlearned")
    R = as_confidences(retrained, "retrained")
    if U.shape[1] != R.shape[1]:
        raise ValueError(
            f"unlearned has {U.shape[1]} forget examples (columns) but retrained has {R.shape[1]}; "
            "both must hold the same forget set, in the same order"
        )
    if U.shape[0] != R.shape[0]:
        raise ValueError(
            f"unlearned has {U.shape[0]} models (rows) but retrained has {R.shape[0]}; the metric compares "
            "populations of equal size N (its rates and buckets use one N), so score equal numbers of models"
        )
    return U, R


def as_confidences(values, name: str) -> np.ndarray:
    """One population of confidences as a checked float64 [N, E] array (see `as_populations`)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} confidences must be numeric, got {type(values).__name__} ({error})") from None
    if array.ndim != 2:
        raise ValueError(
            f"{name} confidences must be 2-D [n_models, n_examples], got shape {array.shape}"
            + ("; stack one row per model" if array.ndim == 1 else "")
        )
    n_models, n_examples = array.shape
    if n_models < 2:
        raise ValueError(f"{name} has {n_models} model(s); the metric needs at least 2 models per population")
    if n_examples < 1:
        raise ValueError(f"{name} has no forget examples (0 columns)")
    bad = ~np.isfinite(array)
    if bad.any():
        model, example = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or inf confidence(s), the first at model {model}, "
            f"example {example}; check the model outputs that produced them"
        )
    largest = float(np.abs(array).max())
    if largest > MAX_ABS_CONFIDENCE:
        raise ValueError(
            f"{name} contains |phi| = {largest:.4g}, beyond the {MAX_ABS_CONFIDENCE:g} that a logit-scaled "
            "confidence can reach; pass scoring.logit_scaled_confidence(logits, labels), not raw logits or losses"
        )
    return array


def as_n_models(n_models) -> int:
    """N as a Python int >= 2."""
    if isinstance(n_models, bool) or not isinstance(n_models, numbers.Integral):
        raise ValueError(f"n_models must be an integer, got {n_models!r}")
    if n_models < 2:
        raise ValueError(f"n_models must be at least 2, got {n_models}")
    return int(n_models)


def as_epsilons(epsilons) -> np.ndarray:
    """Per-example epsilons as a non-empty float64 vector without NaN or negative values."""
    try:
        array = np.asarray(epsilons, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"epsilons must be numeric, got {type(epsilons).__name__}") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"epsilons must be a non-empty 1-D array (one per forget example), got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"epsilons contain {int(np.isnan(array).sum())} NaN value(s)")
    if (array < 0).any():
        raise ValueError(f"epsilons must be >= 0 (per-example epsilons are clipped to [0, 50]); min is {array.min()}")
    return array


def as_delta(delta) -> float:
    """delta as a Python float in [0, 1)."""
    value = _as_real(delta, "delta")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {value}")
    return value


def as_confidence_level(confidence) -> float:
    """A confidence level strictly between 0 and 1 (e.g. 0.95)."""
    value = _as_real(confidence, "confidence")
    if not 0.0 < value < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {value}")
    return value


def as_positive_int(value, name: str) -> int:
    """A Python int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_mean_accuracy(value, name: str, *, positive: bool = False) -> float:
    """One mean accuracy: a fraction in [0, 1] (in (0, 1] when it divides)."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be one number (the mean over the N models), got shape {np.shape(value)}")
    return _check_fraction(_as_real(value, name), name, positive)


def as_model_accuracies(values, name: str, n_models: int) -> np.ndarray:
    """Per-model accuracies: a float64 vector of N fractions in [0, 1]."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}") from None
    if array.shape != (n_models,):
        raise ValueError(f"{name} must hold one accuracy per model, shape ({n_models},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"{name} must be fractions in [0, 1], got values in [{array.min():g}, {array.max():g}]"
            + (" (percentages? divide by 100)" if array.max() > 1 else "")
        )
    return array


def _as_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0):
            raise ValueError(f"{name} must be a real number, got {value!r}")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


def _check_fraction(value: float, name: str, positive: bool) -> float:
    if not 0.0 <= value <= 1.0:
        hint = " (a percentage? divide by 100)" if value > 1 else ""
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value:g}{hint}")
    if positive and value == 0.0:
        raise ValueError(f"{name} is 0; it divides the score, so the retrained models must have non-zero accuracy")
    return value
