"""`unlearn-harness pool`: build or reuse the retrain pool of a competition phase.

Prints where the pool lives, how many models it holds, their accuracies, and the reference retrain
time that sets the unlearning time limit. Re-running resumes an interrupted build.
"""

from __future__ import annotations

import argparse

from harness.cli.arguments import add_competition_arguments, add_stacking_arguments, stacking
from harness.compute.engines import BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_competition_arguments(parser, n_models_help="retrained models in the pool (default: the competition's)")
    parser.add_argument("--phase", default=None, metavar="PHASE", help="evaluation phase (default: the competition's first, usually public)")
    parser.add_argument(
        "--jobs", type=int, metavar="J",
        help="models trained in parallel, with cores // J torch threads each (default: one per GPU, else one per CPU core)",
    )
    parser.add_argument("--threads", type=int, metavar="T", help="torch threads per model (default cores // J); part of the device description")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:K or auto (default cpu)")
    parser.add_argument("--backend", choices=BACKENDS, default="loky", help="joblib engine for the models (default loky)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler or Ray cluster address")
    add_stacking_arguments(parser)
    parser.add_argument("--keep-weights", action="store_true", help="also keep every retrained model's weights")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from harness.config.competition import load_competition
    from harness.compute.devices import default_jobs
    from harness.errors import HarnessError
    from harness.compute.engines import execution_backend
    from harness.pool import ensure_pool

    competition = load_competition(args.competition)
    phase = args.phase or competition.phase_names[0]
    n_models = competition.n_models if args.n_models is None else args.n_models
    jobs = default_jobs(args.device) if args.jobs is None else args.jobs
    if n_models < 1 or jobs < 1:
        raise HarnessError("--n-models and --jobs must be at least 1")
    batch_models, bf16 = stacking(args)
    started = time.perf_counter()
    with execution_backend(args.backend, jobs=jobs, scheduler=args.scheduler) as workers:
        pool = ensure_pool(
            competition, n_models, phase=phase, cache_dir=args.cache_dir, jobs=workers, device=args.device,
            data_dir=args.data_dir, keep_weights=args.keep_weights, progress=not args.quiet, threads=args.threads,
            batch_models=batch_models, bf16=bf16,
        )
    elapsed = time.perf_counter() - started

    def mean(values) -> str:
        return f"{100 * float(np.mean(values)):.1f}%"

    retrained = pool.retrained
    print(f"pool: {pool.path}")
    print(f"competition: {competition.name}, phase {phase}, forget set of {len(pool.forget_ids)} examples")
    print(f"models: the original + {len(retrained)} retrained ({pool.built_now} built now, the rest reused from the cache)")
    print(f"original model: retain {mean([pool.original.retain_acc])}, test {mean([pool.original.test_acc])}, forget {mean([pool.original.forget_acc])}")
    print(
        f"retrained models (mean): retain {mean([r.retain_acc for r in retrained])}, "
        f"test {mean([r.test_acc for r in retrained])}, forget {mean([r.forget_acc for r in retrained])}"
    )
    reference, cutoff = pool.reference, competition.time_cutoff
    cpu = "" if reference.cpu_seconds is None else f"{reference.cpu_seconds:.2f} s CPU time, "
    print(f"reference retrain time: {cpu}{reference.wall_seconds:.2f} s wall time per model "
          f"(median of {reference.runs} timed retrains) on {reference.device}")
    limits = ("" if reference.cpu_seconds is None else f"{cutoff * reference.cpu_seconds:.2f} s CPU time "
              "(where the sandbox accounts it), else ") + f"{cutoff * reference.wall_seconds:.2f} s wall time"
    print(f"unlearning time limit: {100 * cutoff:g}% of that = {limits} per run, with {reference.threads} torch thread(s)")
    print(f"done in {elapsed:.1f} s")
    return 0
