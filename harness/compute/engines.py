"""Independent work items through joblib: local processes, Dask, or Ray; never a home-made scheduler.

Every work item in the harness (train retrained model k, run unlearning seeds, evaluate model k) is
idempotent and writes its own result atomically, so any engine may run, retry or lose them. An
"engine" is what joblib calls a parallel backend (loky, dask, ray); in this harness "backend" names
only a sandbox's implementation (harness.sandbox.backends).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, Sequence, TypeVar

import joblib

from harness.errors import HarnessError
from harness.utils.progress import progress

T = TypeVar("T")

ENGINES = ("loky", "dask", "ray")
CLUSTER_ENGINES = ("dask", "ray")

# The engine that execution_engine configured, so that run_tasks never runs a work item in the
# client when a cluster's workers are there to run it.
_active_engine: contextvars.ContextVar[str | None] = contextvars.ContextVar("harness_engine", default=None)


def on_cluster() -> bool:
    """Whether work items go to a cluster's workers (dask or Ray), whatever their number."""
    return _active_engine.get() in CLUSTER_ENGINES


@contextlib.contextmanager
def execution_engine(engine: str = "loky", *, jobs: int = 1, scheduler: str | None = None) -> Iterator[int]:
    """Configure joblib for `engine` and yield the number of parallel workers to use.

    loky: local processes. dask: a dask.distributed scheduler at `scheduler` (or a LocalCluster
    with `jobs` single-threaded workers when none is given). ray: Ray's joblib engine (an existing
    cluster at `scheduler`, else a local one).
    """
    if engine not in ENGINES:
        raise HarnessError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "loky" and scheduler:
        raise HarnessError("--scheduler applies to --engine dask or ray, not loky")
    marker = _active_engine.set(engine)
    try:
        if engine == "loky":
            with joblib.parallel_config(backend="loky", n_jobs=jobs):
                yield jobs
        elif engine == "dask":
            with _dask_client(jobs, scheduler) as workers, joblib.parallel_config(backend="dask", n_jobs=workers):
                yield workers
        else:
            with _ray_runtime(scheduler) as workers, joblib.parallel_config(backend="ray", n_jobs=workers):
                yield workers
    finally:
        _active_engine.reset(marker)


@contextlib.contextmanager
def _dask_client(jobs: int, scheduler: str | None) -> Iterator[int]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise HarnessError("--engine dask needs dask.distributed: pip install 'unlearning-harness[dask]'") from None
    if scheduler:
        with Client(scheduler) as client:
            yield max(1, len(client.scheduler_info().get("workers", {})))
        return
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster):
            yield jobs


@contextlib.contextmanager
def _ray_runtime(scheduler: str | None) -> Iterator[int]:
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError:
        raise HarnessError("--engine ray needs Ray: pip install 'unlearning-harness[ray]'") from None
    register_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=scheduler, include_dashboard=False, log_to_driver=False)
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started:
            ray.shutdown()


def run_tasks(tasks: Sequence[Callable[[], T]], *, jobs: int, desc: str, unit: str = "task") -> list[T]:
    """Run zero-argument callables under the configured joblib engine, in order of `tasks`.

    Locally, one task or one job runs inline (no worker start-up cost and easier debugging); under
    a cluster engine every task goes to the cluster's workers, so the client only plans.
    """
    if not tasks:
        return []
    cluster = on_cluster()
    if not cluster and (jobs <= 1 or len(tasks) == 1):
        return [task() for task in progress(tasks, desc=desc, unit=unit)]
    results: list[T | None] = [None] * len(tasks)
    n_jobs = max(1, min(jobs, len(tasks)))
    if cluster and joblib.effective_n_jobs(n_jobs) == 1:
        # joblib runs a one-slot pool in the calling process; a cluster of one still gets the work.
        finished = _on_single_slot_cluster(tasks)
    else:
        calls = (joblib.delayed(_indexed)(index, task) for index, task in enumerate(tasks))
        try:
            # Results as they finish, so the progress bar moves with the work.
            runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        except ValueError:  # engines without streaming results (Ray's)
            runner = joblib.Parallel(n_jobs=n_jobs)
        finished = runner(calls)
    for index, result in progress(finished, total=len(tasks), desc=desc, unit=unit):
        results[index] = result
    return results  # type: ignore[return-value]


def _on_single_slot_cluster(tasks: Sequence[Callable[[], T]]) -> Iterator[tuple[int, T]]:
    """(index, result) of every task, run by the cluster's own API (joblib would run them here)."""
    if _active_engine.get() == "dask":
        from dask.distributed import as_completed, get_client

        futures = get_client().map(_indexed, range(len(tasks)), tasks, pure=False)
        for future in as_completed(futures):
            yield future.result()
        return
    import ray

    remote = ray.remote(_indexed)
    pending = [remote.remote(index, task) for index, task in enumerate(tasks)]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def _indexed(index: int, task: Callable[[], T]) -> tuple[int, T]:
    return index, task()


def release_local_workers() -> None:
    """End the idle local (loky) worker processes now, rather than wait for their interpreters to wind down.

    For a command that is done with them: Python's own exit joins each worker while it tears torch
    down, over a second for nothing. Every item already wrote its result atomically, and a killed
    worker leaves nothing behind that the next run does not clean up.
    """
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)  # loky keeps its one reusable executor here
    if executor is not None:
        with contextlib.suppress(Exception):  # only a shortcut: never the reason a finished command fails
            executor.shutdown(wait=True, kill_workers=True)


def split_evenly(items: Sequence[T], parts: int) -> list[list[T]]:
    """Contiguous, nearly equal chunks (none empty) preserving order."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks
