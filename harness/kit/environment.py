"""The run's environment: what the sandbox worker tells a submission through `UNLEARN_*` variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping

from harness.sandbox.run_environment import (
    ENV_COMPETITION,
    ENV_DEVICE,
    ENV_NUM_CLASSES,
    ENV_SEED,
    ENV_TIME_BASIS,
    ENV_TIME_BUDGET,
    TIME_BASES,
    TIME_BASIS_WALL,
)


@dataclass(frozen=True)
class RunEnvironment:
    """What the sandbox worker tells a submission about its run; None where a variable is absent."""

    seed: int | None = None
    time_budget_s: float | None = None  # seconds allowed for this run (cutoff x reference retrain time)
    num_classes: int | None = None
    device: str | None = None
    competition: str | None = None
    time_basis: str = TIME_BASIS_WALL  # the clock time_budget_s is charged on: "cpu" or "wall"


def read_environment(environ: Mapping[str, str] | None = None) -> RunEnvironment:
    """Parse the `UNLEARN_*` variables (from `os.environ` by default); raise ValueError on a bad value."""
    environ = os.environ if environ is None else environ

    def text(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    def number(name: str, kind: type, positive: bool):
        raw = text(name)
        if raw is None:
            return None
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if positive and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a positive finite number, got {raw!r}")
        return value

    basis = text(ENV_TIME_BASIS) or TIME_BASIS_WALL
    if basis not in TIME_BASES:
        raise ValueError(f"{ENV_TIME_BASIS} must be one of {', '.join(TIME_BASES)}, got {basis!r}")
    return RunEnvironment(
        seed=number(ENV_SEED, int, positive=False),
        time_budget_s=number(ENV_TIME_BUDGET, float, positive=True),
        num_classes=number(ENV_NUM_CLASSES, int, positive=True),
        device=text(ENV_DEVICE),
        competition=text(ENV_COMPETITION),
        time_basis=basis,
    )
