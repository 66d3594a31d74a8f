"""The flow of one evaluation (DESIGN.md): for every phase of the competition,
retrain pool -> sandboxed unlearning runs -> trusted evaluation of the returned models ->
outputs.parquet -> scoring -> score.json and report.html.

Every step is an idempotent work item that persists its result atomically under
`<out>/work/`, so a run killed at any moment resumes where it stopped when re-run with the
same arguments, and reaches the same figures.
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.compute.engines import execution_engine, on_cluster, run_tasks, split_evenly
from harness.errors import HarnessError
from harness.results.environment import describe_environment
from harness.results.folder import LOGS_DIR, WORK_DIR, phase_directory
from harness.results.outputs import OutputsMetadata, OutputsRow, RunOutputs
from harness.results.phase import PhaseResult
from harness.results.time_rule import charge, per_run_budgets, run_seconds, wall_seconds
from harness.results.writer import write_phase_results
from harness.run.settings import RunSettings
from harness.sandbox.submission_files import identity_sha256, submission_problem
from harness.utils.files import atomic_write_text

# Unlearning run k gets seed UNLEARN_SEED_BASE + k: disjoint from the pool's training seeds,
# and the same for every submission so that runs are comparable and reproducible.
UNLEARN_SEED_BASE = 1_000_000


def evaluate_submission(submission: Path, settings: RunSettings) -> list[PhaseResult]:
    """Evaluate `submission` on every phase `settings` name; the competition's first phase is the public one."""
    submission = Path(submission).resolve()
    if not submission.exists():
        raise HarnessError(f"submission {submission} does not exist")
    all_phases = tuple(settings.competition.phase_names)
    _claim_output_folder(submission, settings)
    return [_evaluate_phase(submission, settings, phase, all_phases) for phase in settings.phases]


def _evaluate_phase(submission: Path, settings: RunSettings, phase: str, all_phases: tuple[str, ...]) -> PhaseResult:
    # torch-heavy modules load here, not at import, so that importing the pipeline stays cheap.
    from harness.data.per_process import worker_data

    started_at = _now()
    competition = settings.competition
    directory = phase_directory(settings.out_dir, phase, all_phases)
    work = settings.out_dir / WORK_DIR / phase
    # One engine for the whole phase: on a cluster the pool's models, the sandbox chunks and the
    # evaluations of returned models all run on its workers, and this process plans and scores.
    with execution_engine(settings.engine, jobs=settings.jobs, scheduler=settings.scheduler) as workers:
        pool = phase_pool(settings, phase, workers)
        data = worker_data(competition, phase, _text(settings.data_dir), _text(settings.cache_dir))
        budgets = per_run_budgets(settings.time_cutoff, pool.reference)
        refused = submission_problem(submission)
        if refused is None:
            outcomes = _run_unlearning(submission, settings, pool, data, work, budgets, workers)
        else:
            outcomes = _refused_runs(settings, refused)
        _collect_logs(outcomes, settings.out_dir / LOGS_DIR / phase)
        times = charge(outcomes, pool.reference)
        unlearned = _evaluate_unlearned(outcomes, settings, phase, data, work, workers, times.time_basis)
    retrained = [_retrained_row(model) for model in pool.retrained]
    sandbox = _sandbox_summary(outcomes, settings.sandbox)
    metadata = OutputsMetadata(
        competition=competition.name,
        forget_ids=tuple(str(i) for i in pool.forget_ids),
        n_models=settings.n_models,
        time_cutoff=settings.time_cutoff,
        phase=phase,
        phases=all_phases,
        retrain_device=pool.reference.device,
        unlearn_device=settings.device,
        **asdict(times),
        sandbox=sandbox,
        submission={"path": str(submission), "name": submission.stem, "sha256": identity_sha256(submission)},
        failure=_submission_failure(outcomes),
        environment=describe_environment(pool.reference.device),
        started_at=started_at,
        finished_at=_now(),
        extra={"pool": str(pool.path), "reference_retrains": pool.reference.runs, **budgets},
    )
    outputs = RunOutputs.from_rows(metadata, unlearned + retrained)
    result = write_phase_results(directory, outputs, settings.scoring, report=settings.report)
    return PhaseResult(result_dir=settings.out_dir, phase_dir=directory, record=result.record)


def phase_pool(settings: RunSettings, phase: str, workers: int):
    """The retrain pool `settings` score `phase` against, built or grown where models are missing.

    Call it under execution_engine: `workers` is what that engine provides.
    """
    from harness.pool.build import build_pool

    return build_pool(settings.competition, settings.pool_settings(phase, workers))


# --- sandboxed unlearning ----------------------------------------------------------------------
def _run_unlearning(submission: Path, settings: RunSettings, pool, data, work: Path, budgets: dict[str, float | None],
                    workers: int) -> list:
    """Run the submission once per seed in `workers` sandboxes, each on a contiguous chunk of seeds."""
    from harness.compute.devices import worker_devices
    from harness.sandbox.job import UnlearningJob

    competition = settings.competition
    seeds = [UNLEARN_SEED_BASE + index for index in range(settings.n_models)]
    chunks = split_evenly(list(enumerate(seeds)), workers)
    devices = worker_devices(settings.device, len(chunks))
    tasks = []
    for chunk_number, (chunk, device) in enumerate(zip(chunks, devices)):
        job = UnlearningJob(
            architecture=competition.architecture,
            num_classes=competition.num_classes,
            in_channels=competition.in_channels,
            original_weights=Path(pool.original_weights_path),
            retain=data.retain,
            forget=data.forget,
            val=data.val,
            batch_size=competition.batch_size,
            batch_format=competition.batch_format,
            seeds=[seed for _, seed in chunk],
            first_index=chunk[0][0],
            device=device,
            **budgets,
            competition=competition.name,
            torch_threads=pool.reference.threads,
            packages=competition.packages,
        )
        tasks.append(
            functools.partial(
                _run_sandbox_chunk,
                submission,
                job,
                work / "sandbox" / f"chunk-{chunk_number:03d}",
                settings.sandbox,
                replace(competition.sandbox, docker_runtime=settings.docker_runtime, docker_image=settings.docker_image),
                competition.allow_unsandboxed,
            )
        )
    results = run_tasks(tasks, jobs=workers, desc="unlearning (sandbox chunks)", unit="chunk")
    return sorted((outcome for chunk in results for outcome in chunk), key=lambda outcome: outcome.index)


def _run_sandbox_chunk(submission: Path, job, work_dir: Path, sandbox: str, limits, allow_unsandboxed: bool) -> list:
    from harness.sandbox.supervisor import run_submission

    return run_submission(
        submission, job, work_dir, backend=sandbox, limits=limits, allow_unsandboxed=allow_unsandboxed, progress=False
    )


def _refused_runs(settings: RunSettings, reason: str) -> list:
    """Every run of a submission the harness refuses to copy or run (see submission_problem)."""
    from harness.sandbox import INVALID_SUBMISSION, RunOutcome

    return [RunOutcome(seed=UNLEARN_SEED_BASE + index, index=index, status=INVALID_SUBMISSION, message=reason,
                       backend=settings.sandbox) for index in range(settings.n_models)]


def _submission_failure(outcomes: list) -> dict[str, str] | None:
    """The first real failure (runs after it in the same sandbox are "not_run"), as {kind, message}."""
    from harness.sandbox.protocol import NOT_RUN

    for outcome in outcomes:
        if outcome.status not in ("ok", NOT_RUN):
            return {"kind": outcome.status, "message": f"run {outcome.index} (seed {outcome.seed}): {outcome.message or outcome.status}"}
    return None


def _collect_logs(outcomes: list, folder: Path) -> None:
    """Gather each run's captured (already size-bounded) output under <out>/logs/<phase>/."""
    folder.mkdir(parents=True, exist_ok=True)
    for outcome in outcomes:
        if outcome.log_path is not None and Path(outcome.log_path).is_file():
            shutil.copyfile(outcome.log_path, folder / f"run-{outcome.index:05d}-seed-{outcome.seed}.log")


def _sandbox_summary(outcomes: list, requested: str) -> dict[str, Any]:
    backends = sorted({outcome.backend for outcome in outcomes if outcome.backend}) or [requested]
    return {"backend": ",".join(backends), "isolated": all(outcome.isolated for outcome in outcomes)}


# --- trusted evaluation ------------------------------------------------------------------------
def _evaluate_unlearned(outcomes: list, settings: RunSettings, phase: str, data, work: Path, workers: int,
                        basis: str) -> list[OutputsRow]:
    """Evaluate every returned model on the trusted side, one work item per model (harness.evaluation.returned).

    Each row's seconds are its run's on the evaluation's time `basis` (supervisor-measured, never
    the submission's own report), its wall seconds beside them.

    The items go to the workers (a cluster's, or the local ones), which load the data themselves,
    once per process: for digits at N = 32 on 2 cores that took 0.7-1.0 s in two local workers
    against 1.3 s here. With one worker they run here, on the data already in hand.
    """
    from harness.compute.devices import worker_devices
    from harness.evaluation.returned import ReturnedModel, evaluate_returned_model

    devices = worker_devices(settings.device, workers)
    items = [
        ReturnedModel(outcome, settings.competition, phase, devices[number % len(devices)], _text(settings.data_dir),
                      _text(settings.cache_dir), work / "evaluations")
        for number, outcome in enumerate(outcomes)
    ]
    here = workers == 1 and not on_cluster()
    tasks = [functools.partial(evaluate_returned_model, item, data if here else None) for item in items]
    rows = run_tasks(tasks, jobs=workers, desc="evaluating unlearned models", unit="model")
    return [replace(row, seconds=run_seconds(outcome, basis), wall_seconds=wall_seconds(outcome)) for row, outcome in zip(rows, outcomes)]


def _retrained_row(model) -> OutputsRow:
    from harness.evaluation.returned import evaluated_row

    # A pool model's seconds are its training wall time (a record of it: the reference is timed apart).
    return replace(evaluated_row("retrained", model.index, model.seed, model.seconds, model), wall_seconds=model.seconds)


# --- the output folder -------------------------------------------------------------------------
def _claim_output_folder(submission: Path, settings: RunSettings) -> None:
    """Refuse to mix the work of different submissions or settings in one output folder."""
    identity = {
        "submission_sha256": identity_sha256(submission),
        "competition": settings.competition.name,
        "n_models": settings.n_models,
    }
    marker = settings.out_dir / WORK_DIR / "run.json"
    if marker.exists():
        stored = json.loads(marker.read_text())
        different = {key: (stored.get(key), value) for key, value in identity.items() if stored.get(key) != value}
        if different:
            details = "; ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in different.items())
            raise HarnessError(
                f"{settings.out_dir} holds the work of another evaluation ({details}); "
                "pass another --out, or delete that folder to start over"
            )
        return
    (settings.out_dir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps(identity, indent=2))


def _text(path: Path | None) -> str | None:
    """Paths as the work items key their per-process data by (None stays None)."""
    return str(path) if path else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
