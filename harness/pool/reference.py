"""The reference retrain timing: the yardstick of the time limit, measured once per pool and device.

The median of REFERENCE_RUNS dedicated retrains, timed one at a time after the usual warm-up, the
same whatever the pool's N, stored with the pool per device description (timings/<hash>.json).
The pool's own models train in parallel, in stacks, under varying load: their seconds are not a
yardstick.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.data.per_process import worker_data
from harness.errors import HarnessError
from harness.pool.identity import REFERENCE, model_seed
from harness.pool.tasks import ModelTask, torch_threads
from harness.sandbox.run_environment import TIME_BASIS_CPU, TIME_BASIS_WALL
from harness.training.warmup import warm_up_once
from harness.utils.files import atomic_write_text, file_lock
from harness.utils.progress import progress, progress_disabled

# The reference retrain time is the median of this many dedicated retrains, whatever N is.
REFERENCE_RUNS = 3
# Layout of timings/<hash>.json; a file of another format (or none) is measured again.
TIMING_FORMAT = 2


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


def timing_file(path: Path, description: str) -> Path:
    return path / "timings" / f"{hashlib.sha256(description.encode()).hexdigest()[:16]}.json"


def reference_timing(path: Path, description: str, probe: ModelTask, show_progress: bool,
                      measured: list[dict[str, float | int]] | None = None) -> ReferenceTiming:
    """The pool's reference timing on `description`: the stored one, else `measured` (the timed
    retrains that ran beside the build), else measured now; stored in either case.

    Concurrent builders keep one: the first to take the lock stores its own, the others read it.
    """
    stored_at = timing_file(path, description)
    stored = read_reference_timing(stored_at, description)
    if stored is not None:
        return stored
    with file_lock(path / "locks" / f"timing-{stored_at.stem}.lock"):
        stored = read_reference_timing(stored_at, description)
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
        atomic_write_text(stored_at, json.dumps(document, indent=2, sort_keys=True) + "\n")
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

    with torch_threads(task.threads):
        data = worker_data(task.competition, task.phase, task.data_dir, task.cache_dir)
        warm_up_once(task.competition, task.device, data.retain)
        seed = model_seed(task.competition, REFERENCE, run)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        train_model(task.competition, data, train_on="retain", seed=seed, device=task.device, progress=False)
        wall = time.perf_counter() - wall_start
        return {"seed": seed, "cpu_seconds": time.process_time() - cpu_start, "wall_seconds": wall}
