"""Threshold grids of the two attack families, bit for bit as the official scorer builds them.

Single threshold: torch.linspace with torch's default dtype, float32 (a quirk of the official
code), so the thresholds are float32-rounded before they are compared with float64 confidences.
Interval: NumPy float64 linspace, one right-threshold grid and one left-threshold row per right
threshold.
"""

from __future__ import annotations

import numpy as np

from scoring.constants import INTERVAL_BUFFER, THRESHOLDS_PER_UNIT

# Left thresholds per right threshold: ceil(2 * buffer * 100) = 400.
LEFT_THRESHOLDS_PER_ROW = int(np.ceil(2 * INTERVAL_BUFFER * THRESHOLDS_PER_UNIT))

# Above this many steps the kernel's float32 index conversion is no longer exact; the grids here
# never come close (|phi| <= 104 gives at most ~21,000 single thresholds).
_MAX_EXACT_STEPS = 2**24


def torch_float32_linspace(start: float, end: float, steps: int) -> np.ndarray:
    """The float32 values of `torch.linspace(start, end, steps)` on CPU (default dtype), bit for bit.

    torch's CPU kernel rounds start and end to float32, computes step = (end - start) / (steps - 1)
    in float32, and returns start + step * i for the first half (i < steps // 2) and
    end - step * (steps - 1 - i) for the second. Its SIMD builds (AVX2, AVX-512; what torch uses on
    any recent x86 CPU) compile each of those into one fused multiply-add, so every value is the
    exact result rounded once to float32; this reproduces that rounding in float64 without torch.
    `steps == 1` gives [start] (torch fills it), `steps == 0` an empty array.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if steps > _MAX_EXACT_STEPS:
        raise ValueError(f"steps must be at most {_MAX_EXACT_STEPS} to be reproduced exactly, got {steps}")
    first = np.float32(start)
    last = np.float32(end)
    if steps == 0:
        return np.empty(0, dtype=np.float32)
    if steps == 1:
        return np.array([first], dtype=np.float32)
    step = np.float32(np.float32(last - first) / np.float32(steps - 1))
    index = np.arange(steps)
    halfway = steps // 2
    from_start = _fused_multiply_add_to_float32(step, index[:halfway], first)
    from_end = _fused_multiply_add_to_float32(-step, steps - 1 - index[halfway:], last)
    return np.concatenate([from_start, from_end])


def _fused_multiply_add_to_float32(factor: np.float32, counts: np.ndarray, addend: np.float32) -> np.ndarray:
    """float32(factor * counts + addend) rounded ONCE from the exact value, as a hardware FMA does.

    factor * count is exact in float64 (24 + 24 bits); the sum is rounded to float64 "to odd"
    (TwoSum gives the exact error; an inexact result with an even last bit moves one ulp towards
    the true value), which makes the final rounding to float32 correct (53 >= 24 + 2 bits).
    """
    product = np.float64(factor) * counts.astype(np.float64)
    addend64 = np.float64(addend)
    total = product + addend64
    # TwoSum: total + error == product + addend exactly.
    addend_part = total - product
    error = (product - (total - addend_part)) + (addend64 - addend_part)
    even = (total.view(np.int64) & 1) == 0
    to_odd = (error != 0) & even
    total[to_odd] = np.nextafter(total[to_odd], np.where(error[to_odd] > 0, np.inf, -np.inf))
    return total.astype(np.float32)


def single_threshold_grid(low: float, high: float) -> np.ndarray:
    """The single-threshold family's thresholds for pooled values in [low, high], as float64.

    K = ceil((high - low) * 100) thresholds from torch.linspace in float32 (the official quirk);
    K is 0 when low == high, so that family then has no rule at all.
    """
    count = int(np.ceil((high - low) * THRESHOLDS_PER_UNIT))
    return torch_float32_linspace(low, high, count).astype(np.float64)


def interval_grid(positive_min: float, positive_max: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Right thresholds [R] and left thresholds [R, 400] of the interval family, float64.

    `positive_*` describe the peakier population P and `width` is its range (max - min, computed
    as the caller computed it). Right thresholds: linspace(min + width - 2, max + 2,
    ceil(span * 100)), usually 400 or 401 depending on how the float span rounds. For each right
    threshold r, left thresholds linspace(r - width - 2, r - width + 2, 400); left may exceed
    right (an empty interval) when width < 2. The operations are the official ones, in its order.
    """
    low = (positive_min + width) - INTERVAL_BUFFER
    high = positive_max + INTERVAL_BUFFER
    n_right = int(np.ceil((high - low) * THRESHOLDS_PER_UNIT))
    right = np.linspace(low, high, n_right)
    shifted = right - width
    # A vector start/stop gives each row exactly the values of its own scalar np.linspace call.
    left = np.linspace(shifted - INTERVAL_BUFFER, shifted + INTERVAL_BUFFER, LEFT_THRESHOLDS_PER_ROW, axis=1)
    return right, left
