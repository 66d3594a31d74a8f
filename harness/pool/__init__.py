"""The retrain pool: one original model and N models retrained without the forget set, cached.

The pool depends only on the competition phase, never on a submission, so it is built once and
shared. It is content-addressed by (split manifest checksum, architecture, recipe, base seed): change
any of them and a new pool folder is used. It is built model by model, each model a work item that
writes its own files atomically; a killed build resumes with only what is missing, and concurrent
builders share the work through per-model file locks.

Layout of <cache>/pools/<competition>.<phase>.<key>/:
    pool.json                      what the pool is (competition, phase, manifest checksum, recipe, ...)
    original.safetensors           the original model's weights (the sandbox starts from them)
    records/original.parquet       its evaluation (forget confidences, accuracies, seconds, device)
    records/retrained-00007.parquet
    weights/retrained-00007.safetensors   only with keep_weights
    timings/<hash>.json            the reference retrain timing of one device description
    locks/                         one lock file per model
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness import __version__
from harness.utils.files import atomic_write, atomic_write_text, cache_root, file_lock
from harness.config.competition import Competition, load_competition
from harness.errors import DataError, HarnessError
from harness.training.architectures import architecture_signature
from harness.utils.progress import progress, progress_disabled
from harness.sandbox.run_environment import TIME_BASIS_CPU, TIME_BASIS_WALL
from harness.data.per_process import worker_data as _worker_data  # one worker process builds many models: data loaded once

log = logging.getLogger(__name__)

POOL_FORMAT = 1
ORIGINAL = "original"
RETRAINED = "retrained"
REFERENCE = "reference"  # the dedicated timed retrains of the reference timing (never kept)
_SEED_STREAMS = {ORIGINAL: 0, RETRAINED: 1, REFERENCE: 2}
# The reference retrain time is the median of this many dedicated retrains, whatever N is.
REFERENCE_RUNS = 3
# Layout of timings/<hash>.json; a file of another format (or none) is measured again.
TIMING_FORMAT = 2


@dataclass(frozen=True)
class ModelRecord:
    """What scoring needs from one pool model (accuracies are fractions in [0, 1])."""

    kind: str  # "original" or "retrained"
    index: int  # 0 for the original; k for retrained model k
    seed: int
    forget_confidences: np.ndarray  # float64 [E], forget set in manifest order
    retain_acc: float
    test_acc: float
    forget_acc: float
    val_acc: float | None
    seconds: float  # wall-clock training time (a record, not the time limit's reference: see ReferenceTiming)
    device: str  # describe_device() of the device it was trained on, with its torch thread count
    threads: int
    best_epoch: int | None
    weights_path: Path | None  # None unless the weights were kept


@dataclass(frozen=True)
class ReferenceTiming:
    """The time to retrain one model from scratch on `device`: the yardstick of the time limit.

    The median of `runs` dedicated retrains, timed one at a time after the usual warm-up, the
    same whatever the pool's N, and cached with the pool per device description (the pool's own
    models train in parallel, in stacks, under varying load: their seconds are not a yardstick).
    `cpu_seconds` is the training process's CPU time (user + system, all threads), the basis on
    CPU, where machine load barely changes it; None on CUDA, where CPU time means nothing and
    `wall_seconds`, the wall-clock time, is the basis. `threads` is the torch thread count:
    unlearning runs with as many, to compare like with like.
    """

    cpu_seconds: float | None
    wall_seconds: float
    runs: int
    device: str  # describe_device(): the CPU model and thread count, or the GPU name
    threads: int

    def seconds(self, basis: str) -> float:
        """The reference in `basis` ("cpu" or "wall"), the clock a run was charged on."""
        if basis == TIME_BASIS_WALL:
            return self.wall_seconds
        if basis == TIME_BASIS_CPU and self.cpu_seconds is not None:
            return self.cpu_seconds
        if basis == TIME_BASIS_CPU:
            raise HarnessError(f"the reference retrain on {self.device} has no CPU time (on a GPU, wall time is the basis)")
        raise HarnessError(f"unknown time basis {basis!r}; expected {TIME_BASIS_CPU!r} or {TIME_BASIS_WALL!r}")


@dataclass(frozen=True)
class Pool:
    """A complete pool, as ensure_pool returns it."""

    path: Path
    competition: str
    phase: str
    manifest_checksum: str
    original: ModelRecord
    retrained: list[ModelRecord]  # the first n_models, by index
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


# ---------------------------------------------------------------------------------------------
# Seeds and identity


def model_seed(competition: Competition, kind: str, index: int = 0) -> int:
    """The training seed of the original (kind="original") or of retrained model `index`.

    Derived from the competition's base seed through NumPy's SeedSequence, so streams never overlap
    and model k's seed does not depend on how many models the pool has.
    """
    sequence = np.random.SeedSequence([competition.seed, _SEED_STREAMS[kind], index])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def pool_identity(competition: Competition, manifest_checksum: str) -> dict[str, Any]:
    """Everything a pool's models depend on; its hash names the pool folder."""
    return {
        "format": POOL_FORMAT,
        "manifest_checksum": manifest_checksum,
        "architecture": competition.architecture,
        "architecture_signature": architecture_signature(competition.architecture, competition.num_classes, competition.in_channels),
        "num_classes": competition.num_classes,
        "in_channels": competition.in_channels,
        "recipe": competition.recipe.to_dict(),
        "seed": competition.seed,
    }


def pool_path(competition: Competition, phase: str, manifest_checksum: str, cache_dir: str | Path | None = None) -> Path:
    identity = json.dumps(pool_identity(competition, manifest_checksum), sort_keys=True)
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "pools" / f"{competition.name}.{phase}.{key}"


def _record_path(pool: Path, kind: str, index: int) -> Path:
    return pool / "records" / (f"{ORIGINAL}.parquet" if kind == ORIGINAL else f"{RETRAINED}-{index:05d}.parquet")


def _weights_path(pool: Path, kind: str, index: int) -> Path:
    return pool / "original.safetensors" if kind == ORIGINAL else pool / "weights" / f"{RETRAINED}-{index:05d}.safetensors"


# ---------------------------------------------------------------------------------------------
# Building


@dataclass(frozen=True)
class ModelTask:
    """One idempotent work item: train, evaluate and record one pool model. Picklable for joblib."""

    pool: Path
    competition: Competition
    phase: str
    kind: str
    index: int
    seed: int
    device: str
    threads: int
    keep_weights: bool
    data_dir: str | None
    cache_dir: str | None

    @property
    def record_path(self) -> Path:
        return _record_path(self.pool, self.kind, self.index)

    @property
    def weights_path(self) -> Path:
        return _weights_path(self.pool, self.kind, self.index)

    def is_done(self) -> bool:
        # The record is written last, so it marks a finished model; the original also needs its weights.
        return self.record_path.is_file() and (self.kind != ORIGINAL or self.weights_path.is_file())


def run_model_task(task: ModelTask, blocking: bool = False) -> str:
    """Build one model unless it exists: "built", "cached", or "busy" (another builder holds it)."""
    if task.is_done():
        return "cached"
    lock = task.pool / "locks" / f"{task.record_path.stem}.lock"
    with file_lock(lock, blocking=blocking) as acquired:
        if not acquired:
            return "busy"
        if task.is_done():  # finished by another builder while we waited
            return "cached"
        _remove_leftovers(task)
        _build(task)
    _log_built(task)
    return "built"


def _log_built(task: ModelTask, stacked: int = 1) -> None:
    # Says which process built which model: on a cluster, the workers' logs show where the pool was trained.
    how = f" in a stack of {stacked}" if stacked > 1 else ""
    log.info("built %s model %d of %s/%s%s on %s", task.kind, task.index, task.competition.name, task.phase, how, task.device)


def _remove_leftovers(task: ModelTask) -> None:
    """Temp files of this model left by a killed builder (safe: only the lock holder writes them)."""
    for target in (task.record_path, task.weights_path):
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run with `threads` torch threads, then restore the caller's count (jobs=1 runs in the caller)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build(task: ModelTask) -> None:
    from harness.evaluation.model import evaluate_model
    from harness.training.trainer import train_model

    with _torch_threads(task.threads):
        data = _worker_data(task.competition, task.phase, task.data_dir, task.cache_dir)
        _warm_up_once(task, data)
        trained = train_model(
            task.competition,
            data,
            train_on="all" if task.kind == ORIGINAL else "retain",
            seed=task.seed,
            device=task.device,
            progress=False,
        )
        _record_model(task, trained, evaluate_model(trained.model, data, device=task.device))


def run_stacked_tasks(tasks: list[ModelTask], bf16: bool | None = None) -> list[str]:
    """Build the missing retrained models of `tasks` together, stacked in one network (harness.training.stacked).

    Same outcomes as run_model_task, per task. Models another builder holds are left "busy".
    Their records say "stacked xK" in the device description: their seconds are a stack's time
    shared out, never a reference retrain time (that stays a one-at-a-time measurement). `bf16`
    is train_models' (True: bf16 autocast on CPU too; the records then say so); None decides in
    the process that trains: on a CPU that computes in bf16 natively the stacks train under bf16
    autocast, the CUDA path's precision (digits: 2.6x one at a time, against 1.8x in float32;
    benchmarks/RESULTS.md, "Pool throughput"), elsewhere as train_models decides.
    """
    from harness.training.allocator import keep_freed_memory
    from harness.evaluation.stacked import evaluate_models
    from harness.training.stacked import train_models
    from harness.compute.devices import cpu_has_native_bf16, resolve_device

    keep_freed_memory()  # a stack's activations are large: reuse them instead of re-faulting them every step
    if bf16 is None and tasks and resolve_device(tasks[0].device).type == "cpu":
        bf16 = cpu_has_native_bf16()
    outcomes = {id(task): "cached" for task in tasks if task.is_done()}
    with contextlib.ExitStack() as locks:
        todo = []
        for task in tasks:
            if id(task) in outcomes:
                continue
            acquired = locks.enter_context(file_lock(task.pool / "locks" / f"{task.record_path.stem}.lock", blocking=False))
            if not acquired:
                outcomes[id(task)] = "busy"
            elif task.is_done():
                outcomes[id(task)] = "cached"
            else:
                _remove_leftovers(task)
                todo.append(task)
        if todo:
            first = todo[0]
            with _torch_threads(first.threads):
                data = _worker_data(first.competition, first.phase, first.data_dir, first.cache_dir)
                trained = train_models(first.competition, data, seeds=[task.seed for task in todo], train_on="retain",
                                       device=first.device, batch_models=len(todo), progress=False, bf16=bf16)
                evaluations = evaluate_models([model.model for model in trained], data, device=first.device)
                for task, model, evaluation in zip(todo, trained, evaluations):
                    _record_model(task, model, evaluation, stacked=len(todo), bf16=bool(bf16))
                    _log_built(task, stacked=len(todo))
                    outcomes[id(task)] = "built"
    return [outcomes[id(task)] for task in tasks]


def _record_model(task: ModelTask, trained, evaluation, stacked: int = 1, bf16: bool = False) -> None:
    """Keep what scoring needs of a trained model (and its weights where wanted); the record goes last."""
    from harness.compute.devices import describe_device

    keep = task.kind == ORIGINAL or task.keep_weights
    if keep:
        save_weights(trained.model, task.weights_path)
    device = describe_device(task.device, task.threads) + (f", stacked x{stacked}" if stacked > 1 else "") + (", bf16" if bf16 else "")
    record = ModelRecord(
        kind=task.kind,
        index=task.index,
        seed=task.seed,
        forget_confidences=evaluation.forget_confidences,
        retain_acc=evaluation.retain_acc,
        test_acc=evaluation.test_acc,
        forget_acc=evaluation.forget_acc,
        val_acc=evaluation.val_acc,
        seconds=trained.seconds,
        device=device,
        threads=task.threads,
        best_epoch=trained.best_epoch,
        weights_path=task.weights_path if keep else None,
    )
    write_record(record, task.record_path)


_warmed_up: set[tuple[str, str]] = set()


def _warm_up_once(task: ModelTask, data) -> None:
    """Once per process and device, as the sandbox does before its clock: a model's training time
    (the reference for the time limit) must not include torch's one-time start-up costs."""
    from harness.training.architectures import build_model
    from harness.training.warmup import warm_up

    key = (task.competition.architecture, task.device)
    if key in _warmed_up:
        return
    template = build_model(task.competition.architecture, task.competition.num_classes, task.competition.in_channels)
    warm_up(template, task.device, data.retain, task.competition.recipe.batch_size)
    _warmed_up.add(key)




def save_weights(model, path: Path) -> None:
    """The model's state dict as safetensors (contiguous CPU tensors), written atomically."""
    from safetensors.torch import save_file

    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    atomic_write(path, lambda temp: save_file(state, str(temp)))


_RECORD_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("index", pa.int64()),
        ("seed", pa.int64()),
        ("forget_confidences", pa.list_(pa.float64())),
        ("retain_acc", pa.float64()),
        ("test_acc", pa.float64()),
        ("forget_acc", pa.float64()),
        ("val_acc", pa.float64()),
        ("seconds", pa.float64()),
        ("device", pa.string()),
        ("threads", pa.int64()),
        ("best_epoch", pa.int64()),
        ("weights", pa.string()),
    ]
)


def write_record(record: ModelRecord, path: Path) -> None:
    row = {
        "kind": [record.kind],
        "index": [record.index],
        "seed": [record.seed],
        "forget_confidences": [np.asarray(record.forget_confidences, dtype=np.float64).tolist()],
        "retain_acc": [record.retain_acc],
        "test_acc": [record.test_acc],
        "forget_acc": [record.forget_acc],
        "val_acc": [record.val_acc],
        "seconds": [record.seconds],
        "device": [record.device],
        "threads": [record.threads],
        "best_epoch": [record.best_epoch],
        "weights": [record.weights_path.name if record.weights_path else None],
    }
    table = pa.table(row, schema=_RECORD_SCHEMA)
    atomic_write(path, lambda temp: pq.write_table(table, temp))


def read_record(path: Path) -> ModelRecord:
    try:
        row = {name: values[0] for name, values in pq.read_table(path).to_pydict().items()}
    except (pa.ArrowException, OSError, IndexError, KeyError) as error:
        raise DataError(f"{path}: unreadable pool record ({error}); delete it and re-run to rebuild that model") from None
    weights_folder = path.parent.parent if row["kind"] == ORIGINAL else path.parent.parent / "weights"
    return ModelRecord(
        kind=row["kind"],
        index=row["index"],
        seed=row["seed"],
        forget_confidences=np.asarray(row["forget_confidences"], dtype=np.float64),
        retain_acc=row["retain_acc"],
        test_acc=row["test_acc"],
        forget_acc=row["forget_acc"],
        val_acc=row["val_acc"],
        seconds=row["seconds"],
        device=row["device"],
        threads=row["threads"],
        best_epoch=row["best_epoch"],
        weights_path=weights_folder / row["weights"] if row["weights"] else None,
    )


# ---------------------------------------------------------------------------------------------
# The public entry point


def ensure_pool(
    competition: Competition | str,
    n_models: int,
    *,
    phase: str = "public",
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    device: str = "cpu",
    data_dir: str | os.PathLike | None = None,
    keep_weights: bool = False,
    progress: bool = True,
    threads: int | None = None,
    batch_models: int | None = None,
    bf16: bool | None = None,
) -> Pool:
    """Build what is missing of the pool (the original model and retrained models 0..n_models-1) and return it.

    Models train in parallel through joblib (under whatever joblib backend is configured; loky
    processes by default), `jobs` at a time (default: one per GPU, else one per CPU core) with
    `threads` torch threads each (default cores // jobs).
    `pool.reference` is the reference retrain timing (ReferenceTiming): REFERENCE_RUNS dedicated
    retrains timed here, one at a time, the first time this pool meets this device description
    (which includes the CPU thread count), then read from the pool's cache, so every command and
    every N uses the same one; run unlearning with `pool.reference.threads` threads to compare
    like with like. `batch_models` > 1 trains the retrained models up to that many at a time in
    one stacked network (harness.training.stacked; statistically, not bitwise, the same models); their
    records carry "stacked xK" in the device description. None stacks where that was measured
    faster (harness.training.stacked.pool_batch_models: small CNNs on CPU), 1 trains one model at a time.
    `bf16`: True trains stacks under bf16 autocast on CPU too, False in float32, None under bf16
    on CUDA (as train_model does) and on CPUs that compute in bf16 natively (see run_stacked_tasks).
    """
    from harness.compute.devices import default_jobs, describe_device, resolve_device, threads_per_worker
    from harness.compute.engines import worker_devices

    competition = load_competition(competition)
    competition.phase(phase)
    if not isinstance(n_models, int) or n_models < 1:
        raise HarnessError(f"n_models must be a positive integer, got {n_models!r}")
    jobs = default_jobs(device) if jobs is None else jobs
    if not isinstance(jobs, int) or jobs < 1:
        raise HarnessError(f"jobs must be a positive integer, got {jobs!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise HarnessError(f"threads must be a positive integer, got {threads!r}")
    if batch_models is not None and (not isinstance(batch_models, int) or batch_models < 1):
        raise HarnessError(f"batch_models must be a positive integer, got {batch_models!r}")
    device_name = str(resolve_device(device))
    threads = threads or threads_per_worker(jobs)
    batch_models = _batch_models(competition, device_name, batch_models, bf16)
    data_dir = str(data_dir) if data_dir else None
    cache_dir = str(cache_dir) if cache_dir else None

    manifest = _manifest(competition, phase, data_dir, cache_dir)
    path = pool_path(competition, phase, manifest.checksum, cache_dir)
    _write_identity(path, competition, phase, manifest.checksum)

    devices = worker_devices(device_name, jobs)
    models = [(ORIGINAL, 0)] + [(RETRAINED, k) for k in range(n_models)]
    tasks = [
        ModelTask(
            pool=path, competition=competition, phase=phase, kind=kind, index=index,
            seed=model_seed(competition, kind, index), device=devices[number % len(devices)], threads=threads,
            keep_weights=keep_weights, data_dir=data_dir, cache_dir=cache_dir,
        )
        for number, (kind, index) in enumerate(models)
    ]
    description = describe_device(device_name, threads)
    # On a CPU the reference's dedicated retrains are work items beside the pool's models (CPU time
    # does not depend on the load); on a GPU, where wall time is the yardstick, they run alone after.
    timing_items = []
    if not device_name.startswith("cuda") and read_reference_timing(_timing_file(path, description), description) is None:
        timing_items = [partial(timed_retrain, tasks[1], run) for run in range(REFERENCE_RUNS)]
    built_now, timed = _build_missing(tasks, jobs, f"retrain pool {competition.name}/{phase}", progress, batch_models, bf16,
                                      extra=timing_items)

    original = read_record(_record_path(path, ORIGINAL, 0))
    retrained = [read_record(task.record_path) for task in tasks[1:]]
    reference = _reference_timing(path, description, tasks[1], progress, measured=timed or None)
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


def _batch_models(competition: Competition, device: str, batch_models: int | None, bf16: bool | None) -> int:
    from harness.training.stacked import pool_batch_models

    resolved = pool_batch_models(competition.architecture, device) if batch_models is None else batch_models
    if bf16 and resolved == 1:
        how = "batch_models=1 asks for that" if batch_models == 1 else f"{competition.architecture} on {device} is not stacked by default"
        raise HarnessError(f"bf16 applies to stacked training, and this pool trains one model at a time ({how}); give batch_models > 1")
    return resolved


def _build_missing(
    tasks: list[ModelTask], jobs: int, desc: str, show_progress: bool, batch_models: int | None = None, bf16: bool | None = None,
    extra: list = (),
) -> tuple[int, list]:
    """Run the tasks whose models are missing, and the `extra` work items beside them; returns how
    many models this call built and the extra items' results.

    With `batch_models` > 1, retrained models are built up to `batch_models` at a time in one
    stacked network (harness.training.stacked): a work item is then a group of models, and each model still
    gets its own record, so resuming and concurrent builders work as for single models.
    """
    from harness.compute.engines import run_tasks

    missing = [task for task in tasks if not task.is_done()]
    extra = list(extra)
    if not missing:
        with progress_disabled(not show_progress):
            return 0, run_tasks(extra, jobs=jobs, desc="timing the reference retrain", unit="retrain")
    with progress_disabled(not show_progress):
        if batch_models and batch_models > 1:
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
            outcomes = [outcome for result in results for outcome in ([result] if isinstance(result, str) else result)]
        else:
            results = run_tasks([partial(run_model_task, task) for task in missing] + extra, jobs=jobs, desc=desc, unit="item")
            outcomes, extra_results = results[: len(missing)], results[len(missing):]
        # Models another builder was training: wait for its lock, then take its result or build it ourselves.
        busy = [task for task, outcome in zip(missing, outcomes) if outcome == "busy"]
        waits = [partial(run_model_task, task, True) for task in busy]
        outcomes += run_tasks(waits, jobs=jobs, desc="waiting for other builders", unit="model")
    return sum(outcome == "built" for outcome in outcomes), extra_results


def _manifest(competition: Competition, phase: str, data_dir: str | None, cache_dir: str | None):
    from harness.data.loading import load_data
    from harness.data.manifest import find_manifest

    manifest = find_manifest(competition, phase, cache_dir)
    if manifest is None:
        load_data(competition, phase, data_dir, cache_dir=cache_dir)  # generates and caches the manifest
        manifest = find_manifest(competition, phase, cache_dir)
    return manifest


def _write_identity(path: Path, competition: Competition, phase: str, manifest_checksum: str) -> None:
    identity_file = path / "pool.json"
    if identity_file.is_file():
        return
    identity = pool_identity(competition, manifest_checksum) | {
        "competition": competition.name,
        "phase": phase,
        "created_by": f"unlearning-harness {__version__}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(identity_file, json.dumps(identity, indent=2, sort_keys=True) + "\n")


def _timing_file(path: Path, description: str) -> Path:
    return path / "timings" / f"{hashlib.sha256(description.encode()).hexdigest()[:16]}.json"


def _reference_timing(path: Path, description: str, probe: ModelTask, show_progress: bool,
                      measured: list[dict[str, float | int]] | None = None) -> ReferenceTiming:
    """The pool's reference timing on `description`: the stored one, else `measured` (the timed
    retrains that ran beside the build), else measured now; stored in either case.

    Concurrent builders keep one: the first to take the lock stores its own, the others read it.
    """
    timing_file = _timing_file(path, description)
    stored = read_reference_timing(timing_file, description)
    if stored is not None:
        return stored
    with file_lock(path / "locks" / f"timing-{timing_file.stem}.lock"):
        stored = read_reference_timing(timing_file, description)
        if stored is not None:
            return stored
        with progress_disabled(not show_progress):
            runs = measured or timed_retrains(probe, REFERENCE_RUNS)
        timing = ReferenceTiming(
            cpu_seconds=None if probe.device.startswith("cuda") else float(statistics.median(run["cpu_seconds"] for run in runs)),
            wall_seconds=float(statistics.median(run["wall_seconds"] for run in runs)),
            runs=len(runs),
            device=description,
            threads=probe.threads,
        )
        document = {
            "format": TIMING_FORMAT,
            "device": description,
            "threads": timing.threads,
            "cpu_seconds": timing.cpu_seconds,
            "wall_seconds": timing.wall_seconds,
            "runs": runs,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "measured_by": f"unlearning-harness {__version__}",
        }
        atomic_write_text(timing_file, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return timing


def read_reference_timing(timing_file: Path, description: str) -> ReferenceTiming | None:
    """The timing stored in `timing_file` for `description`; None when absent, unreadable, of an
    older format (a pool cached before the reference had runs of its own) or of another device."""
    try:
        document = json.loads(timing_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != TIMING_FORMAT or document.get("device") != description:
        return None
    try:
        return ReferenceTiming(
            cpu_seconds=None if document["cpu_seconds"] is None else float(document["cpu_seconds"]),
            wall_seconds=float(document["wall_seconds"]),
            runs=len(document["runs"]),
            device=description,
            threads=int(document["threads"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def timed_retrains(task: ModelTask, runs: int) -> list[dict[str, float | int]]:
    """Retrain `runs` models (thrown away) on `task`'s device, one at a time, and time each one
    (timed_retrain). Returns [{seed, cpu_seconds, wall_seconds}]."""
    if runs < 1:
        raise HarnessError(f"the reference timing needs at least one retrain, got {runs}")
    return [timed_retrain(task, run) for run in progress(range(runs), desc="timing the reference retrain", unit="retrain")]


def timed_retrain(task: ModelTask, run: int) -> dict[str, float | int]:
    """Retrain one model (thrown away) on `task`'s device and time it, a work item of its own.

    Timed around the training call, after the warm-up, on two clocks: this process's CPU time
    (time.process_time: user + system of all its threads) and wall time (train_model
    synchronizes CUDA before it returns). CPU time does not depend on what else the machine
    runs, so on a CPU these retrains run beside the pool's models. Seeds come from their own
    stream, so the runs are the same whatever the pool holds.
    """
    from harness.training.trainer import train_model

    with _torch_threads(task.threads):
        data = _worker_data(task.competition, task.phase, task.data_dir, task.cache_dir)
        _warm_up_once(task, data)
        seed = model_seed(task.competition, REFERENCE, run)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        train_model(task.competition, data, train_on="retain", seed=seed, device=task.device, progress=False)
        wall = time.perf_counter() - wall_start
        return {"seed": seed, "cpu_seconds": time.process_time() - cpu_start, "wall_seconds": wall}
