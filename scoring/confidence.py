"""The attack signal: logit-scaled confidence of the true class (METRIC.md, Notation)."""

from __future__ import annotations

import numpy as np

# Added inside both logs by the official code, so zero probabilities give finite values.
LOG_EPSILON = 1e-45


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    """phi = log(p_y + 1e-45) - log(p_rest + 1e-45), in float64, shape [E].

    `logits` is [E, C] (any array-like, e.g. a NumPy array of a model's outputs), `labels` is [E].
    p_rest is summed over the other classes rather than taken as 1 - p_y: near p_y = 1 the
    subtraction loses every digit, and the official scorer sums.
    As in the official code, the shift by the row max and the exp run in the logits' own floating
    dtype (float32 for model outputs), and the softmax is normalised in float64 from there, so
    float32 logits give the official confidences bit for bit. Integer logits are taken as float64.
    """
    logits = np.asarray(logits)
    if not np.issubdtype(logits.dtype, np.floating):
        if not np.issubdtype(logits.dtype, np.number) or np.issubdtype(logits.dtype, np.complexfloating):
            raise ValueError(f"logits must be real numbers, got dtype {logits.dtype}")
        logits = logits.astype(np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must be 2-D [examples, classes] with at least one class, got shape {logits.shape}")
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must be 1-D with one label per logits row ({logits.shape[0]}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got values in [{labels.min()}, {labels.max()}]")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or inf")
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(logits.shape[0])
    p_true = probs[rows, labels]
    p_rest = _sum_of_others(probs, labels)
    return np.log(p_true + LOG_EPSILON) - np.log(p_rest + LOG_EPSILON)


def _sum_of_others(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    mask = np.ones_like(probs, dtype=bool)
    mask[np.arange(probs.shape[0]), labels] = False
    return np.where(mask, probs, 0.0).sum(axis=1)
