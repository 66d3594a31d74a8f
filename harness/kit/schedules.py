"""Learning-rate schedules: multipliers of the base rate as a function of training progress in [0, 1]."""

from __future__ import annotations

import math
from typing import Callable

import torch


Schedule = Callable[[float], float]


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Set every parameter group's learning rate (for methods that schedule by round, not by step)."""
    for group in optimizer.param_groups:
        group["lr"] = rate


def constant(progress: float) -> float:
    return 1.0


def cosine(progress: float) -> float:
    """Cosine annealing from 1 to 0 over the run (as CosineAnnealingLR over the planned steps)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def warmup_then_linear_decay(warmup: float, start: float, end: float) -> Schedule:
    """Linear warm-up from `start` to 1 over the first `warmup` of the run, then linear decay to `end`."""
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must lie in [0, 1), got {warmup}")

    def schedule(progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        if progress < warmup:
            return start + (1.0 - start) * progress / warmup
        return 1.0 + (end - 1.0) * (progress - warmup) / (1.0 - warmup)

    return schedule


def step_decay(milestones: tuple[float, ...], factor: float) -> Schedule:
    """Multiply by `factor` at each milestone (fractions of the run), like MultiStepLR."""

    def schedule(progress: float) -> float:
        return factor ** sum(progress >= milestone for milestone in milestones)

    return schedule
