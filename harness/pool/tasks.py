"""Building pool models: one idempotent work item per model (or per stack of models), picklable for joblib.

A work item trains, evaluates and stores one model unless its file exists; per-model file locks let
concurrent builders share the work, and a killed one costs only the model it was writing. Each item
reports a build status: "built", "cached", or "busy" (another builder holds the model).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.config.competition import Competition
from harness.data.per_process import worker_data  # one worker process builds many models: data loaded once
from harness.pool.identity import ORIGINAL, model_file, weights_file
from harness.pool.pool_model import PoolModel, write_pool_model
from harness.training.warmup import warm_up_once
from harness.training.weights import save_weights
from harness.utils.files import file_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelTask:
    """One idempotent work item: train, evaluate and store one pool model. Picklable for joblib."""

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
    def model_path(self) -> Path:
        return model_file(self.pool, self.kind, self.index)

    @property
    def weights_path(self) -> Path:
        return weights_file(self.pool, self.kind, self.index)

    @property
    def lock_path(self) -> Path:
        return self.pool / "locks" / f"{self.model_path.stem}.lock"

    def is_done(self) -> bool:
        # The model's file is written last, so it marks a finished model; the original also needs its weights.
        return self.model_path.is_file() and (self.kind != ORIGINAL or self.weights_path.is_file())


def run_model_task(task: ModelTask, blocking: bool = False) -> str:
    """Build one model unless it exists: "built", "cached", or "busy" (another builder holds it)."""
    if task.is_done():
        return "cached"
    with file_lock(task.lock_path, blocking=blocking) as acquired:
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
    for target in (task.model_path, task.weights_path):
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
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

    with torch_threads(task.threads):
        data = worker_data(task.competition, task.phase, task.data_dir, task.cache_dir)
        warm_up_once(task.competition, task.device, data.retain)
        trained = train_model(
            task.competition,
            data,
            train_on="all" if task.kind == ORIGINAL else "retain",
            seed=task.seed,
            device=task.device,
            progress=False,
        )
        _store_model(task, trained, evaluate_model(trained.model, data, device=task.device))


def run_stacked_tasks(tasks: list[ModelTask], bf16: bool | None = None) -> list[str]:
    """Build the missing retrained models of `tasks` together, stacked in one network (harness.training.stacked).

    The same build statuses as run_model_task, per task. Models another builder holds are left "busy".
    Their files say "stacked xK" in the device description: their seconds are a stack's time
    shared out, never a reference retrain time (that stays a one-at-a-time measurement). `bf16`
    is train_models' (True: bf16 autocast on CPU too; their files then say so); None decides in
    the process that trains: on a CPU that computes in bf16 natively the stacks train under bf16
    autocast, the CUDA path's precision (digits: 2.6x one at a time, against 1.8x in float32;
    benchmarks/RESULTS.md, "Pool throughput"), elsewhere as train_models decides.
    """
    from harness.compute.devices import resolve_device
    from harness.compute.machine import cpu_has_native_bf16
    from harness.evaluation.stacked import evaluate_models
    from harness.training.allocator import keep_freed_memory
    from harness.training.stacked import train_models

    keep_freed_memory()  # a stack's activations are large: reuse them instead of re-faulting them every step
    if bf16 is None and tasks and resolve_device(tasks[0].device).type == "cpu":
        bf16 = cpu_has_native_bf16()
    statuses = {id(task): "cached" for task in tasks if task.is_done()}
    with contextlib.ExitStack() as locks:
        todo = []
        for task in tasks:
            if id(task) in statuses:
                continue
            acquired = locks.enter_context(file_lock(task.lock_path, blocking=False))
            if not acquired:
                statuses[id(task)] = "busy"
            elif task.is_done():
                statuses[id(task)] = "cached"
            else:
                _remove_leftovers(task)
                todo.append(task)
        if todo:
            first = todo[0]
            with torch_threads(first.threads):
                data = worker_data(first.competition, first.phase, first.data_dir, first.cache_dir)
                trained = train_models(first.competition, data, seeds=[task.seed for task in todo], train_on="retain",
                                       device=first.device, batch_models=len(todo), progress=False, bf16=bf16)
                evaluations = evaluate_models([model.model for model in trained], data, device=first.device)
                for task, model, evaluation in zip(todo, trained, evaluations):
                    _store_model(task, model, evaluation, stacked=len(todo), bf16=bool(bf16))
                    _log_built(task, stacked=len(todo))
                    statuses[id(task)] = "built"
    return [statuses[id(task)] for task in tasks]


def _store_model(task: ModelTask, trained, evaluation, stacked: int = 1, bf16: bool = False) -> None:
    """Keep what scoring needs of a trained model (and its weights where wanted); its file goes last."""
    from harness.compute.devices import describe_device

    keep = task.kind == ORIGINAL or task.keep_weights
    if keep:
        save_weights(trained.model, task.weights_path)
    device = describe_device(task.device, task.threads) + (f", stacked x{stacked}" if stacked > 1 else "") + (", bf16" if bf16 else "")
    model = PoolModel(
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
    write_pool_model(model, task.model_path)
