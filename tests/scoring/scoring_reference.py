"""A slow, literal implementation of the official metric, used only by tests to check `scoring`.

It follows the released scorer (google-deepmind/unlearning_evaluation, metric.py) line by line on
CPU: boolean matrices [models, thresholds] for every rule, rates as torch float32 means, thresholds
from torch.linspace (float32) and NumPy float64 linspace, and the float32 epsilon formula with
NumPy's nanmax/clip. Two changes, both forced: interval rules are evaluated in blocks of right
thresholds to bound memory (the same comparisons), and the released `assert thr_eps` (which
raises on any array of more than one element) is replaced by its intent: an example where no rule
survives is reported as NaN, which the fast scorer must turn into 0.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

DELTA = 1e-05
EPSILON_CAP = 50
NUM_THRESHOLDS_PER_UNIT = 100
_ROWS_PER_BLOCK = 40


def compute_logit_scaled_confidence(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The official confidence transform, literally (on a copy: the original shifts in place)."""
    logits = np.array(logits)
    count = logits.shape[0]
    logits -= np.max(logits, axis=1, keepdims=True)
    probs = np.array(np.exp(logits), dtype=np.float64)
    probs /= np.sum(probs, axis=1, keepdims=True)
    prob_correct = probs[np.arange(count), targets[:count]]
    probs[np.arange(count), targets[:count]] = 0
    prob_wrong = np.sum(probs, axis=1)
    return np.log(prob_correct + 1e-45) - np.log(prob_wrong + 1e-45)


def double_threshold_rates(pos: torch.Tensor, neg: torch.Tensor):
    """tpr, fnr, fpr, tnr (float32 tensors) of the interval family, as the official code builds it."""
    pos_diff = pos.max() - pos.min()
    neg_diff = neg.max() - neg.min()
    smallest = neg_diff if pos_diff > neg_diff else pos_diff
    if pos_diff >= neg_diff:
        pos, neg = neg, pos
    buffer = 2.0
    width = smallest
    min_ = (pos.min() + width - buffer).numpy()
    max_ = (pos.max() + buffer).numpy()
    num_right = int(np.ceil((max_ - min_) * NUM_THRESHOLDS_PER_UNIT))
    right_thresholds = np.linspace(min_, max_, num=num_right)
    width = width.numpy()
    num_left = int(np.ceil(2 * buffer * NUM_THRESHOLDS_PER_UNIT))
    rates = [[], [], [], []]
    for start in range(0, len(right_thresholds), _ROWS_PER_BLOCK):
        block = right_thresholds[start : start + _ROWS_PER_BLOCK]
        thr_left = np.concatenate(
            [np.linspace(tr - width - buffer, tr - width + buffer, num=num_left) for tr in block], axis=0
        )
        thr_right = np.tile(np.reshape(block, (-1, 1)), (1, num_left)).reshape((-1))
        thr_left = torch.from_numpy(thr_left)[None, :]
        thr_right = torch.from_numpy(thr_right)[None, :]

        def is_pp(c):
            return torch.logical_and(torch.le(thr_left, c[:, None]), torch.le(c[:, None], thr_right)).type(torch.float32)

        def is_pn(c):
            return torch.logical_not(is_pp(c)).type(torch.float32)

        for out, value in zip(
            rates,
            (
                torch.mean(is_pp(pos), 0),
                torch.mean(is_pn(pos), 0),
                torch.mean(is_pp(neg), 0),
                torch.mean(is_pn(neg), 0),
            ),
        ):
            out.append(value)
    return tuple(torch.cat(r) if r else torch.zeros(0) for r in rates)


def single_threshold_rates(pos: torch.Tensor, neg: torch.Tensor):
    """tpr, fnr, fpr, tnr of the single-threshold family, thresholds from torch.linspace (float32)."""
    all_confs = torch.cat([pos, neg])
    min_val = all_confs.min()
    max_val = all_confs.max()
    num_thresholds = int(torch.ceil((max_val - min_val) * NUM_THRESHOLDS_PER_UNIT))
    thresholds = torch.linspace(min_val, max_val, num_thresholds)[None, :]
    tpr = torch.mean((pos[:, None] >= thresholds).type(torch.float32), 0)
    fpr = torch.mean((neg[:, None] >= thresholds).type(torch.float32), 0)
    tnr = torch.mean((neg[:, None] < thresholds).type(torch.float32), 0)
    fnr = torch.mean((pos[:, None] < thresholds).type(torch.float32), 0)
    return tpr, fnr, fpr, tnr


def example_epsilon(pos_confs: np.ndarray, neg_confs: np.ndarray, delta: float = DELTA) -> float:
    """The official per-example epsilon before the final clip; NaN when no rule survives."""
    pos_diff = np.max(pos_confs) - np.min(pos_confs)
    neg_diff = np.max(neg_confs) - np.min(neg_confs)
    largest = pos_diff if pos_diff > neg_diff else neg_diff
    smallest = neg_diff if pos_diff > neg_diff else pos_diff
    with np.errstate(invalid="ignore", divide="ignore"):
        if smallest / largest < 0.01:
            return EPSILON_CAP
    pos = torch.from_numpy(np.ascontiguousarray(pos_confs))
    neg = torch.from_numpy(np.ascontiguousarray(neg_confs))
    tpr_d, fnr_d, fpr_d, tnr_d = double_threshold_rates(pos, neg)
    tpr_s, fnr_s, fpr_s, tnr_s = single_threshold_rates(pos, neg)
    tpr = torch.cat([tpr_d, tpr_s], 0)
    fnr = torch.cat([fnr_d, fnr_s], 0)
    fpr = torch.cat([fpr_d, fpr_s], 0)
    tnr = torch.cat([tnr_d, tnr_s], 0)
    total = tpr.shape[0]
    thr_eps = torch.zeros(total)
    both_zero = torch.eq(fpr + fnr, torch.zeros(total))
    both_one = torch.eq(tpr + tnr, 2 * torch.ones(total))
    thr_eps = torch.where(both_zero * both_one, torch.full(thr_eps.shape, np.inf), thr_eps)
    is_zero = torch.eq(thr_eps, torch.zeros_like(thr_eps))
    one_zero = torch.eq(fpr * fnr, torch.zeros_like(thr_eps))
    thr_eps = torch.where(is_zero * one_zero, torch.full(thr_eps.shape, np.nan), thr_eps)
    fpr_np, fnr_np = fpr.numpy(), fnr.numpy()
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmax of all-NaN pairs, as in the original
        computed = np.clip(
            np.nanmax(
                [
                    np.log(1 - delta - fpr_np) - np.log(fnr_np),
                    np.log(1 - delta - fnr_np) - np.log(fpr_np),
                ],
                axis=0,
            ),
            0,
            None,
        )
    thr_eps = torch.where(torch.eq(thr_eps, torch.zeros_like(thr_eps)), torch.from_numpy(computed), thr_eps)
    kept = thr_eps.numpy()
    kept = kept[~np.isnan(kept)]
    if kept.size == 0:
        return float("nan")
    return float(np.nanmax(kept))


def reference_epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """Official per-example epsilons, clipped to [0, 50]; NaN where no rule survives."""
    retrain_is_positive = np.median(retrained, axis=0) > np.median(unlearned, axis=0)
    pos_confs = np.where(retrain_is_positive, retrained, unlearned)
    neg_confs = np.where(retrain_is_positive, unlearned, retrained)
    epsilons = [example_epsilon(pos_confs[:, i], neg_confs[:, i], delta) for i in range(pos_confs.shape[1])]
    return np.clip(np.array(epsilons, dtype=np.float64), 0, EPSILON_CAP)


def reference_forget_score(epsilons: np.ndarray, num_models: int) -> float:
    """The official bucket loop over per-example epsilons."""
    max_epsilon = np.ceil(np.log(num_models - 1))
    start_idx, bucket_size, points = 0, 0.5, 1
    end_idx = start_idx + bucket_size
    bucket_points = {}
    while end_idx <= max_epsilon:
        bucket_points[start_idx] = points
        points /= 2
        start_idx += bucket_size
        end_idx = start_idx + bucket_size
    forget_score = 0
    for e in epsilons:
        for start, pts in bucket_points.items():
            if e < start + bucket_size:
                forget_score += pts
                break
    return forget_score / len(epsilons)
