"""The threshold grids match the official constructions bit for bit (torch float32, NumPy float64)."""

import numpy as np
import pytest
import torch

from scoring.grids import LEFT_THRESHOLDS_PER_ROW, interval_grid, single_threshold_grid, torch_float32_linspace

torch.set_num_threads(1)


def _torch_linspace(start: float, end: float, steps: int) -> np.ndarray:
    # As the official scorer calls it: 0-d float64 tensors, default dtype (float32), on CPU.
    start_t = torch.tensor(start, dtype=torch.float64)
    end_t = torch.tensor(end, dtype=torch.float64)
    return torch.linspace(start_t, end_t, steps).numpy()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and a.shape == b.shape and np.array_equal(a.view(np.int32), b.view(np.int32))


def test_float32_linspace_matches_torch_over_many_random_ranges():
    rng = np.random.default_rng(0)
    mismatches = []
    for trial in range(1500):
        low = rng.normal() * 10 ** rng.uniform(-3, 2)
        high = low + abs(rng.normal()) * 10 ** rng.uniform(-4, 2.3)
        steps = int(np.ceil((high - low) * 100))
        if not _same_bits(torch_float32_linspace(low, high, steps), _torch_linspace(low, high, steps)):
            mismatches.append((low, high, steps))
    assert not mismatches, f"{len(mismatches)} ranges differ from torch.linspace, first {mismatches[0]}"


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 5, 17, 400, 20_723])
@pytest.mark.parametrize("low, high", [(-103.6, 103.6), (0.1, 0.1 + 1e-9), (-1.0, 1.0), (2.5, 2.5), (-7.3, -0.2)])
def test_float32_linspace_matches_torch_at_edge_step_counts(low, high, steps):
    assert _same_bits(torch_float32_linspace(low, high, steps), _torch_linspace(low, high, steps))


def test_naive_float32_formula_is_not_enough():
    # Guards the reason for the fused multiply-add emulation: rounding the product and the sum
    # separately (a non-fused kernel) gives different thresholds for many ranges.
    low, high = -9.371, 0.2712
    steps = int(np.ceil((high - low) * 100))
    start, end = np.float32(low), np.float32(high)
    step = np.float32(np.float32(end - start) / np.float32(steps - 1))
    i = np.arange(steps // 2, dtype=np.float32)
    naive = start + step * i
    assert not np.array_equal(naive, _torch_linspace(low, high, steps)[: steps // 2])


def test_single_threshold_grid_is_float32_rounded_and_sized_by_range():
    grid = single_threshold_grid(-1.2345678, 0.9876543)
    assert grid.dtype == np.float64
    assert grid.size == int(np.ceil((0.9876543 + 1.2345678) * 100))
    assert np.array_equal(grid, grid.astype(np.float32).astype(np.float64))
    assert single_threshold_grid(3.0, 3.0).size == 0
    # A range of at most 0.01 gives one threshold, float32(min), which can lie above the minimum.
    tiny = single_threshold_grid(0.1, 0.105)
    assert tiny.tolist() == [float(np.float32(0.1))] and tiny[0] > 0.1


def test_interval_grid_rows_equal_the_official_per_row_linspace():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p_min = rng.normal() * 5
        p_max = p_min + abs(rng.normal()) * 3
        width = p_max - p_min
        right, left = interval_grid(p_min, p_max, width)
        min_ = p_min + width - 2.0
        max_ = p_max + 2.0
        expected_right = np.linspace(min_, max_, num=int(np.ceil((max_ - min_) * 100)))
        assert np.array_equal(right, expected_right)
        assert right.size in (400, 401)
        assert left.shape == (right.size, LEFT_THRESHOLDS_PER_ROW) == (right.size, 400)
        for row, tr in zip(left, right):
            assert np.array_equal(row, np.linspace(tr - width - 2.0, tr - width + 2.0, num=400))


def test_interval_grid_of_a_constant_population_is_not_empty():
    right, left = interval_grid(1.5, 1.5, 0.0)
    assert right.size in (400, 401) and right[0] == -0.5 and right[-1] == 3.5
    assert (left[:, -1] > right).all()  # width 0: part of every row is an empty interval
