"""The settings of one evaluation, checked once: `RunSettings.resolve` is the boundary.

Everything `unlearn-harness run` (and check, reproduce, confirm) decides besides the submission
itself: the competition and its phases, N, where results and caches go, the sandbox, where work
runs, how the pool trains, how to score. `resolve` fills in the defaults and checks every value,
with messages that name the flag; the pipeline and the layers below it take the result as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from harness.config.checks import MIN_SCORED_MODELS, count_problem, time_cutoff_problem
from harness.config.competition import Competition
from harness.errors import HarnessError
from harness.results.score import ScoringOptions


@dataclass(frozen=True)
class RunSettings:
    """Valid settings of one evaluation (build them with `resolve`).

    `device` is "cpu", "cuda" or "cuda:K" (never "auto"); `phases` are the competition's phases to
    score, in the order given; `time_cutoff` is the one in force (the organizers' or the
    competition's); `batch_models` None stacks the pool's missing models where that was measured
    faster (harness.training.stacked), `bf16` None uses bf16 where the CPU computes in it natively.
    """

    competition: Competition
    n_models: int
    out_dir: Path
    phases: tuple[str, ...]
    sandbox: str
    device: str
    jobs: int
    engine: str
    scheduler: str | None
    cache_dir: Path | None
    data_dir: Path | None
    docker_runtime: str | None
    docker_image: str | None  # None: $UNLEARN_HARNESS_SANDBOX_IMAGE, else the minimal local image
    report: bool
    progress: bool
    scoring: ScoringOptions
    batch_models: int | None
    bf16: bool | None
    time_cutoff: float

    @classmethod
    def resolve(
        cls,
        competition: Competition,
        out_dir: str | os.PathLike,
        *,
        n_models: int | None = None,
        phases: tuple[str, ...] | list[str] | None = None,
        sandbox: str = "auto",
        device: str = "auto",
        jobs: int | None = None,
        engine: str = "loky",
        scheduler: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        docker_runtime: str | None = None,
        docker_image: str | None = None,
        report: bool = True,
        progress: bool = True,
        scoring: ScoringOptions | None = None,
        batch_models: int | None = None,
        bf16: bool | None = None,
        time_cutoff: float | None = None,
    ) -> "RunSettings":
        """The defaults filled in (N and the cutoff: the competition's; every phase; one worker per
        GPU, else per core) and every value checked; HarnessError names the flag that is wrong."""
        from harness.compute.devices import default_jobs, resolve_device
        from harness.compute.engines import ENGINES
        from harness.sandbox.backends import SANDBOX_CHOICES

        n_models = competition.n_models if n_models is None else n_models
        _require(count_problem(n_models, MIN_SCORED_MODELS), "--n-models", "the metric compares populations of models")
        phases = tuple(competition.phase(name).name for name in phases) if phases else tuple(competition.phase_names)
        if sandbox not in SANDBOX_CHOICES:
            raise HarnessError(f"unknown sandbox {sandbox!r}; choose one of: {', '.join(SANDBOX_CHOICES)}")
        if engine not in ENGINES:
            raise HarnessError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
        device = str(resolve_device(device))
        jobs = default_jobs(device) if jobs is None else jobs
        _require(count_problem(jobs), "--jobs")
        if batch_models is not None:
            _require(count_problem(batch_models), "--batch-models", "models per stack")
        time_cutoff = competition.time_cutoff if time_cutoff is None else time_cutoff
        _require(time_cutoff_problem(time_cutoff), "--time-cutoff")
        scoring = scoring or ScoringOptions()
        settings = cls(
            competition=competition,
            n_models=n_models,
            out_dir=Path(out_dir).resolve(),
            phases=phases,
            sandbox=sandbox,
            device=device,
            jobs=jobs,
            engine=engine,
            scheduler=scheduler,
            cache_dir=Path(cache_dir) if cache_dir else None,
            data_dir=Path(data_dir) if data_dir else None,
            docker_runtime=docker_runtime,
            docker_image=docker_image,
            report=report,
            progress=progress,
            # The per-example epsilons use as many workers as the evaluation, unless told otherwise.
            scoring=scoring if scoring.n_jobs else replace(scoring, n_jobs=jobs),
            batch_models=batch_models,
            bf16=bf16,
            time_cutoff=time_cutoff,
        )
        settings.pool_settings(phases[0], jobs)  # the pool's own rules (stacking, bf16), checked here, before any work
        return settings

    def pool_settings(self, phase: str, workers: int):
        """How the pool of `phase` is built for this evaluation, with the engine's `workers`."""
        from harness.pool.settings import PoolSettings

        return PoolSettings.resolve(
            self.competition, self.n_models, phase=phase, device=self.device, jobs=workers,
            batch_models=self.batch_models, bf16=self.bf16, cache_dir=self.cache_dir, data_dir=self.data_dir,
            progress=self.progress,
        )


def _require(problem: str | None, flag: str, why: str | None = None) -> None:
    if problem:
        raise HarnessError(f"{flag} {problem}" + (f" ({why})" if why else ""))
