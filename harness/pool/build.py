"""Building or reusing a retrain pool: one original model and N models retrained without the forget set.

The pool depends only on the competition phase, never on a submission, so it is built once and
shared (harness.pool.identity says what it is and where it lives). It is built model by model, each
model a work item that writes its own files atomically (harness.pool.tasks); a killed build resumes
with only what is missing, and concurrent builders share the work through per-model file locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from harness.compute.engines import run_tasks
from harness.config import load_competition
from harness.config.competition import Competition
from harness.data.manifest import Manifest, find_manifest
from harness.pool.identity import ORIGINAL, RETRAINED, model_file, model_seed, pool_path, write_identity
from harness.pool.pool_model import PoolModel, read_pool_model
from harness.pool.reference import REFERENCE_RUNS, ReferenceTiming, read_reference_timing, reference_timing, timed_retrain, timing_file
from harness.pool.settings import PoolSettings
from harness.pool.tasks import ModelTask, run_model_task, run_stacked_tasks
from harness.utils.progress import progress_disabled


@dataclass(frozen=True)
class Pool:
    """A complete pool, as ensure_pool returns it."""

    path: Path
    competition: str
    phase: str
    manifest_checksum: str
    original: PoolModel
    retrained: list[PoolModel]  # the first n_models, by index
    forget_ids: np.ndarray  # str, forget set in manifest order (the columns of the confidences)
    reference: ReferenceTiming  # the time limit's yardstick, measured on this device description
    built_now: int = 0  # models this call trained (0: a complete cache hit)

    @property
    def original_weights_path(self) -> Path:
        return self.path / "original.safetensors"

    @property
    def n_models(self) -> int:
        return len(self.retrained)

    @property
    def retrained_confidences(self) -> np.ndarray:
        """[N, E] float64: row k is retrained model k's forget-set confidences."""
        return np.stack([record.forget_confidences for record in self.retrained])


def ensure_pool(competition: Competition | str, n_models: int, **options) -> Pool:
    """Build what is missing of the pool (the original model and retrained models 0..n_models-1) and return it.

    `competition` is a Competition, a shipped competition's name or a TOML path; `options` are
    PoolSettings.resolve's (phase, device, jobs, threads, batch_models, bf16, keep_weights,
    cache_dir, data_dir, progress), checked there. See build_pool.
    """
    competition = load_competition(competition)
    return build_pool(competition, PoolSettings.resolve(competition, n_models, **options))


def build_pool(competition: Competition, settings: PoolSettings) -> Pool:
    """Build what is missing of the pool `settings` describe and return it.

    Models train in parallel through joblib (under whatever joblib engine is configured; loky
    processes by default), `settings.jobs` at a time with `settings.threads` torch threads each.
    `pool.reference` is the reference retrain timing (harness.pool.reference): REFERENCE_RUNS
    dedicated retrains timed the first time this pool meets this device description (which
    includes the CPU thread count), then read from the pool's cache, so every command and every N
    uses the same one; run unlearning with `pool.reference.threads` threads to compare like with
    like. With `settings.batch_models` > 1 the retrained models train up to that many at a time in
    one stacked network (harness.training.stacked; statistically, not bitwise, the same models);
    their files carry "stacked xK" in the device description. `settings.bf16`: True trains stacks
    under bf16 autocast on CPU too, False in float32, None under bf16 on CUDA (as train_model does)
    and on CPUs that compute in bf16 natively (see run_stacked_tasks).
    """
    from harness.compute.devices import describe_device, worker_devices

    phase = settings.phase
    manifest = _manifest(competition, phase, settings.data_dir, settings.cache_dir)
    path = pool_path(competition, phase, manifest.checksum, settings.cache_dir)
    write_identity(path, competition, phase, manifest.checksum)

    devices = worker_devices(settings.device, settings.jobs)
    models = [(ORIGINAL, 0)] + [(RETRAINED, k) for k in range(settings.n_models)]
    tasks = [
        ModelTask(
            pool=path, competition=competition, phase=phase, kind=kind, index=index,
            seed=model_seed(competition, kind, index), device=devices[number % len(devices)], threads=settings.threads,
            keep_weights=settings.keep_weights, data_dir=settings.data_dir, cache_dir=settings.cache_dir,
        )
        for number, (kind, index) in enumerate(models)
    ]
    description = describe_device(settings.device, settings.threads)
    # On a CPU the reference's dedicated retrains are work items beside the pool's models (CPU time
    # does not depend on the load); on a GPU, where wall time is the yardstick, they run alone after.
    timing_items = []
    if not settings.device.startswith("cuda") and read_reference_timing(timing_file(path, description), description) is None:
        timing_items = [partial(timed_retrain, tasks[1], run) for run in range(REFERENCE_RUNS)]
    built_now, timed = _build_missing(tasks, settings.jobs, f"retrain pool {competition.name}/{phase}", settings.progress,
                                      settings.batch_models, settings.bf16, extra=timing_items)

    original = read_pool_model(model_file(path, ORIGINAL, 0))
    retrained = [read_pool_model(task.model_path) for task in tasks[1:]]
    reference = reference_timing(path, description, tasks[1], settings.progress, measured=timed or None)
    return Pool(
        path=path,
        competition=competition.name,
        phase=phase,
        manifest_checksum=manifest.checksum,
        original=original,
        retrained=retrained,
        forget_ids=manifest.forget_ids,
        reference=reference,
        built_now=built_now,
    )


def _build_missing(
    tasks: list[ModelTask], jobs: int, desc: str, show_progress: bool, batch_models: int = 1, bf16: bool | None = None,
    extra: list = (),
) -> tuple[int, list]:
    """Run the tasks whose models are missing, and the `extra` work items beside them; returns how
    many models this call built and the extra items' results.

    With `batch_models` > 1, retrained models are built up to `batch_models` at a time in one
    stacked network (harness.training.stacked): a work item is then a group of models, and each model still
    gets its own file, so resuming and concurrent builders work as for single models.
    """
    missing = [task for task in tasks if not task.is_done()]
    extra = list(extra)
    if not missing:
        with progress_disabled(not show_progress):
            return 0, run_tasks(extra, jobs=jobs, desc="timing the reference retrain", unit="retrain")
    with progress_disabled(not show_progress):
        if batch_models > 1:
            # Retrained model 0 trains alone: a stacked model's seconds are a shared-out stack time,
            # so its time becomes the reference for the time limit, measured beside the stacks.
            single = [task for task in missing if task.kind == ORIGINAL or task.index == 0]
            stacked = [task for task in missing if task.kind != ORIGINAL and task.index != 0]
            # Every worker gets a stack where there are enough models (a few smaller stacks beat one idle worker).
            size = min(batch_models, max(2, -(-len(stacked) // jobs)))
            groups = [stacked[start:start + size] for start in range(0, len(stacked), size)]
            # The stacks, the longest items, go first so that the workers finish together.
            work = [partial(run_stacked_tasks, group, bf16=bf16) for group in groups] + [partial(run_model_task, task) for task in single]
            results = run_tasks(work + extra, jobs=jobs, desc=f"{desc} (stacks of {batch_models})", unit="item")
            results, extra_results = results[: len(work)], results[len(work):]
            missing = [task for group in groups for task in group] + single
            statuses = [status for result in results for status in ([result] if isinstance(result, str) else result)]
        else:
            results = run_tasks([partial(run_model_task, task) for task in missing] + extra, jobs=jobs, desc=desc, unit="item")
            statuses, extra_results = results[: len(missing)], results[len(missing):]
        # Models another builder was training: wait for its lock, then take its result or build it ourselves.
        busy = [task for task, status in zip(missing, statuses) if status == "busy"]
        waits = [partial(run_model_task, task, True) for task in busy]
        statuses += run_tasks(waits, jobs=jobs, desc="waiting for other builders", unit="model")
    return sum(status == "built" for status in statuses), extra_results


def _manifest(competition: Competition, phase: str, data_dir: str | None, cache_dir: str | None) -> Manifest:
    """The phase's manifest: shipped, cached, or generated (and cached) by loading the data once."""
    from harness.data.loading import load_data

    manifest = find_manifest(competition, phase, cache_dir)
    if manifest is None:
        load_data(competition, phase, data_dir, cache_dir=cache_dir)  # generates and caches the manifest
        manifest = find_manifest(competition, phase, cache_dir)
    return manifest
