"""How a retrain pool is built, checked once: `PoolSettings.resolve` turns arguments into valid settings.

The pool's builders take the result as it is; every rule (and its message) lives here. A pool may
hold any number of retrained models (it grows model by model); scoring needs at least two
(harness.config.checks.MIN_SCORED_MODELS), which the run's settings check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.config.checks import count_problem
from harness.config.competition import Competition
from harness.errors import HarnessError


@dataclass(frozen=True)
class PoolSettings:
    """Valid settings of one pool build. `device` is "cpu", "cuda" or "cuda:K" (never "auto");
    `batch_models` is how many retrained models train together in one stack (1: one at a time)."""

    phase: str
    n_models: int
    device: str
    jobs: int
    threads: int
    batch_models: int
    bf16: bool | None
    keep_weights: bool
    cache_dir: str | None
    data_dir: str | None
    progress: bool

    @classmethod
    def resolve(
        cls,
        competition: Competition,
        n_models: int,
        *,
        phase: str | None = None,
        device: str = "cpu",
        jobs: int | None = None,
        threads: int | None = None,
        batch_models: int | None = None,
        bf16: bool | None = None,
        keep_weights: bool = False,
        cache_dir: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> "PoolSettings":
        """Check the arguments and fill in the defaults: the competition's first phase; one worker
        per GPU, else per core (`jobs`); cores // jobs torch threads each; stacks where that was
        measured faster (harness.training.stacked.pool_batch_models). HarnessError names a bad one."""
        from harness.compute.devices import default_jobs, resolve_device
        from harness.compute.machine import threads_per_worker

        phase = competition.phase(phase or competition.phase_names[0]).name
        _require_count("n_models", n_models)
        device = str(resolve_device(device))
        jobs = default_jobs(device) if jobs is None else jobs
        _require_count("jobs", jobs)
        if threads is not None:
            _require_count("threads", threads)
        if batch_models is not None:
            _require_count("batch_models", batch_models)
        return cls(
            phase=phase,
            n_models=n_models,
            device=device,
            jobs=jobs,
            threads=threads or threads_per_worker(jobs),
            batch_models=_batch_models(competition, device, batch_models, bf16),
            bf16=bf16,
            keep_weights=keep_weights,
            cache_dir=str(cache_dir) if cache_dir else None,
            data_dir=str(data_dir) if data_dir else None,
            progress=progress,
        )


def _require_count(name: str, value) -> None:
    problem = count_problem(value)
    if problem:
        raise HarnessError(f"{name} {problem}")


def _batch_models(competition: Competition, device: str, batch_models: int | None, bf16: bool | None) -> int:
    from harness.training.stacked import pool_batch_models

    resolved = pool_batch_models(competition.architecture, device) if batch_models is None else batch_models
    if bf16 and resolved == 1:
        if batch_models == 1:
            raise HarnessError("bf16 (--bf16) applies to stacked training, and batch_models = 1 (--batch-models 1) turns stacking off")
        raise HarnessError(f"bf16 (--bf16) applies to stacked training, and {competition.architecture} on {device} is not stacked "
                           "by default; give batch_models > 1 (--batch-models K)")
    return resolved
