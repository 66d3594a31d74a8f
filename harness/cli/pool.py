"""`unlearn-harness pool`: build or reuse the retrain pool of a competition phase.

Prints where the pool lives, how many models it holds, their accuracies, and the reference retrain
time that sets the unlearning time limit. Re-running resumes an interrupted build.
"""

from __future__ import annotations

import argparse

from harness.cli.arguments import add_competition, add_data, add_execution, add_n_models, add_phases, add_stacking, add_verbosity, apply_verbosity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_competition(parser)
    add_n_models(parser, help="retrained models in the pool (default: the competition's)")
    add_data(parser)
    add_phases(parser, help="build this phase's pool (repeatable; default: the competition's first, usually public)")
    add_execution(parser)
    parser.add_argument("--threads", type=int, metavar="T", help="torch threads per model (default cores // J); part of the device description")
    add_stacking(parser)
    parser.add_argument("--keep-weights", action="store_true", help="also keep every retrained model's weights")
    add_verbosity(parser)


def main(args: argparse.Namespace) -> int:
    import time

    from harness.compute.engines import execution_engine
    from harness.config import load_competition
    from harness.pool.build import build_pool
    from harness.pool.settings import PoolSettings

    apply_verbosity(args)
    competition = load_competition(args.competition)
    n_models = competition.n_models if args.n_models is None else args.n_models
    for phase in args.phase or [competition.phase_names[0]]:
        # Checked once, before any engine starts: the engine's workers only replace `jobs`.
        options = dict(phase=phase, device=args.device, jobs=args.jobs, threads=args.threads, batch_models=args.batch_models,
                       bf16=args.bf16, keep_weights=args.keep_weights, cache_dir=args.cache_dir, data_dir=args.data_dir,
                       progress=not args.quiet)
        settings = PoolSettings.resolve(competition, n_models, **options)
        started = time.perf_counter()
        with execution_engine(args.engine, jobs=settings.jobs, scheduler=args.scheduler) as workers:
            pool = build_pool(competition, PoolSettings.resolve(competition, n_models, **(options | {"jobs": workers})))
        print(describe_pool(pool, competition, time.perf_counter() - started))
    return 0


def describe_pool(pool, competition, elapsed: float) -> str:
    """What the pool holds and the time limit it sets, for a person."""
    import numpy as np

    from harness.results.time_rule import per_run_budgets

    def mean(values) -> str:
        return f"{100 * float(np.mean(values)):.1f}%"

    retrained, reference, cutoff = pool.retrained, pool.reference, competition.time_cutoff
    budgets = per_run_budgets(cutoff, reference)
    cpu = "" if reference.cpu_seconds is None else f"{reference.cpu_seconds:.2f} s CPU time, "
    limits = ("" if budgets["per_run_cpu_budget_seconds"] is None else f"{budgets['per_run_cpu_budget_seconds']:.2f} s CPU time "
              "(where the sandbox accounts it), else ") + f"{budgets['per_run_budget_seconds']:.2f} s wall time"
    return "\n".join([
        f"pool: {pool.path}",
        f"competition: {competition.name}, phase {pool.phase}, forget set of {len(pool.forget_ids)} examples",
        f"models: the original + {len(retrained)} retrained ({pool.built_now} built now, the rest reused from the cache)",
        f"original model: retain {mean([pool.original.retain_acc])}, test {mean([pool.original.test_acc])}, forget {mean([pool.original.forget_acc])}",
        f"retrained models (mean): retain {mean([r.retain_acc for r in retrained])}, "
        f"test {mean([r.test_acc for r in retrained])}, forget {mean([r.forget_acc for r in retrained])}",
        f"reference retrain time: {cpu}{reference.wall_seconds:.2f} s wall time per model "
        f"(median of {reference.runs} timed retrains) on {reference.device}",
        f"unlearning time limit: {100 * cutoff:g}% of that = {limits} per run, with {reference.threads} torch thread(s)",
        f"done in {elapsed:.1f} s",
    ])
