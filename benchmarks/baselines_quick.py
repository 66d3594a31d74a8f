"""Quick comparison of the baselines on a small competition (digits by default), without a sandbox.

For each baseline: N unlearning runs from the pool's original model, each seeded and called the way
the sandbox worker calls a submission (UNLEARN_* environment, loaders in the competition's batch
format, the time budget = cutoff x the pool's reference retrain time, both in CPU time, which
machine load barely moves), then the trusted evaluation
(harness.evaluation.model) and the official scoring (scoring.forget_score, scoring.final_score) against
the pool's N retrained models. Prints one table row per baseline, with two diagnostics of what the
runs did to the forget set (shift towards the retrained models, spread across runs; `movement`)
and, with --bootstrap, a score interval and how often the order holds when models are resampled.

This is a development tool: the ranking that counts comes from the full pipeline
(`unlearn-harness reproduce`), which also sandboxes and times runs from outside.

    python benchmarks/baselines_quick.py                       # digits, N = 8, every baseline
    python benchmarks/baselines_quick.py --competition digits-class --baselines finetune,svd_class_unlearning
    python benchmarks/baselines_quick.py --baselines finetune,neggrad_plus,my_submission.py --n-models 32 --bootstrap 100
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from baselines import BASELINES, BASELINES_DIR
from harness.config import load_competition
from harness.data import make_loader
from harness.data import load_data
from harness.evaluation.model import evaluate_model
from harness.results.leaderboard import order_kept
from harness.training.architectures import build_model
from harness.run.pipeline import UNLEARN_SEED_BASE
from harness.pool import ensure_pool
from harness.utils.progress import progress
from scoring import bootstrap_final_score, final_score, forget_score



@dataclass
class Row:
    name: str
    time_fraction: float  # mean unlearning time / reference retrain time
    forget_acc: float
    retain_acc: float
    test_acc: float
    forget_quality: float
    score: float
    # Where the forget-set confidences went, relative to the retrained models (see `movement`).
    shift: float
    spread: float
    # Bootstrap resamples of the score (models resampled); the same seed pairs them across rows.
    samples: np.ndarray | None = None


def available_baselines(forget_kind: str) -> list[str]:
    return sorted(entry.name for entry in BASELINES if forget_kind in entry.forget_kinds)


def load_submission(name: str):
    """A baseline by name, or any submission file by its path (a name ending in .py)."""
    path = Path(name) if name.endswith(".py") else BASELINES_DIR / f"{name}.py"
    if not path.is_file():
        raise SystemExit(f"no baseline {name!r}; available: {', '.join(available_baselines('class'))}")
    spec = importlib.util.spec_from_file_location(f"submission_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_original(competition, pool) -> torch.nn.Module:
    from safetensors.torch import load_file

    net = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    net.load_state_dict(load_file(str(pool.original_weights_path)))
    return net


def unlearn_once(module, original, data, competition, seed: int, budget_s: float) -> tuple[torch.nn.Module, float]:
    """One run as the sandbox worker makes it, charged in CPU time (as a sandbox with cgroup CPU
    accounting charges it); returns the model and the run's CPU seconds."""
    os.environ.update(
        UNLEARN_SEED=str(seed),
        UNLEARN_TIME_BUDGET_S=repr(budget_s),
        UNLEARN_TIME_BASIS="cpu",
        UNLEARN_NUM_CLASSES=str(competition.num_classes),
        UNLEARN_DEVICE="cpu",
        UNLEARN_COMPETITION=competition.name,
    )
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

    def loader(split, shuffle):
        return make_loader(split, competition.batch_size, shuffle=shuffle, seed=seed, batch_format=competition.batch_format)

    net = copy.deepcopy(original).train()
    started = time.process_time()
    returned = module.unlearn(net, loader(data.retain, True), loader(data.forget, True), loader(data.val, True))
    return (net if returned is None else returned), time.process_time() - started


def movement(unlearned: np.ndarray, retrained: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """How far unlearning moved the forget-set confidences [N, E], relative to retraining.

    shift: median over examples of (mean unlearned - original) / (mean retrained - original):
      0 = left where the original model had them, 1 = moved to the retrained models' mean.
    spread: median over examples of the std across unlearned runs / the std across retrained
      models: the threshold attacks separate two populations of very different widths.
    """
    gap = retrained.mean(axis=0) - original
    moved = unlearned.mean(axis=0) - original
    usable = np.abs(gap) > 1e-6
    shift = float(np.median(moved[usable] / gap[usable])) if usable.any() else float("nan")
    spread = float(np.median(unlearned.std(axis=0) / np.maximum(retrained.std(axis=0), 1e-12)))
    return shift, spread


def evaluate_baseline(
    name: str, original, original_confidences: np.ndarray, data, competition, pool, budget_s: float, n_resamples: int
) -> Row:
    module = load_submission(name)
    confidences, retain, test, forget, seconds = [], [], [], [], []
    for index in progress(range(pool.n_models), desc=name, unit="run"):
        net, elapsed = unlearn_once(module, original, data, competition, UNLEARN_SEED_BASE + index, budget_s)
        evaluation = evaluate_model(net, data, include_val=False)
        confidences.append(evaluation.forget_confidences)
        retain.append(evaluation.retain_acc)
        test.append(evaluation.test_acc)
        forget.append(evaluation.forget_acc)
        seconds.append(elapsed)
    retrained = pool.retrained
    unlearned_confidences = np.stack(confidences)
    retained_accuracies = [r.retain_acc for r in retrained], [r.test_acc for r in retrained]
    quality = forget_score(unlearned_confidences, pool.retrained_confidences)
    shift, spread = movement(unlearned_confidences, pool.retrained_confidences, original_confidences)
    score = final_score(quality, float(np.mean(retain)), float(np.mean(retained_accuracies[0])), float(np.mean(test)), float(np.mean(retained_accuracies[1])))
    samples = None
    if n_resamples:
        # Resampling models (not examples) measures how much the score owes to which runs were drawn.
        samples = bootstrap_final_score(
            unlearned_confidences, pool.retrained_confidences, retain, retained_accuracies[0], test, retained_accuracies[1],
            resample="models", n_resamples=n_resamples,
        ).samples
    return Row(name, float(np.mean(seconds)) / pool.reference.seconds("cpu"), float(np.mean(forget)), float(np.mean(retain)), float(np.mean(test)), quality, score, shift, spread, samples)


def print_table(rows: list[Row], pool, cutoff: float) -> None:
    retrained = pool.retrained
    print(f"\nreference retrain: {pool.reference.seconds('cpu'):.2f} s CPU time on {pool.reference.device}; cutoff {cutoff:g} x retrain")
    print(
        f"retrained models: forget acc {np.mean([r.forget_acc for r in retrained]):.3f}  retain acc "
        f"{np.mean([r.retain_acc for r in retrained]):.3f}  test acc {np.mean([r.test_acc for r in retrained]):.3f}\n"
    )
    with_intervals = all(row.samples is not None for row in rows)
    header = f"{'baseline':24s} {'time/retrain':>12s} {'forget acc':>10s} {'retain acc':>10s} {'test acc':>9s} {'F':>7s} {'score':>7s} {'shift':>6s} {'spread':>6s}"
    if with_intervals:
        header += f" {'95% interval':>15s} {'kept vs next':>12s}"
    print(header)
    print("-" * len(header))
    ranked = sorted(rows, key=lambda row: -row.score)
    for row, below in zip(ranked, ranked[1:] + [None]):
        late = " (over)" if row.time_fraction > cutoff else ""
        line = (
            f"{row.name:24s} {row.time_fraction:12.3f} {row.forget_acc:10.3f} {row.retain_acc:10.3f} {row.test_acc:9.3f} "
            f"{row.forget_quality:7.4f} {row.score:7.4f} {row.shift:6.2f} {row.spread:6.2f}"
        )
        if with_intervals:
            low, high = np.nanquantile(row.samples, [0.025, 0.975])
            kept = "" if below is None else f"{order_kept(row.samples, below.samples, paired=True):.0%}"
            line += f" {f'{low:.4f}-{high:.4f}':>15s} {kept:>12s}"
        print(line + late)
    print("\n(shift: how far the forget-set confidences moved from the original model's towards the retrained models' mean,"
          " 0 to 1; spread: their spread across runs / the retrained models'; both medians over forget examples)")
    if with_intervals:
        print("(interval: models resampled; kept vs next: share of paired resamples that keep the row above the next)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competition", default="digits", help="shipped competition name or .toml path (default: digits)")
    parser.add_argument("--phase", default="public")
    parser.add_argument("--n-models", type=int, default=8, help="unlearned and retrained models per baseline (default: 8)")
    parser.add_argument("--baselines", default="", help="comma-separated baseline names or submission .py paths (default: every applicable baseline)")
    parser.add_argument("--cache-dir", default=None, help="where the retrain pool is cached (default: the harness cache)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, for the pool and the runs alike (default: 1)")
    parser.add_argument("--time-cutoff", type=float, default=None, help="budget as a fraction of one retrain (default: the competition's)")
    parser.add_argument(
        "--bootstrap", type=int, default=0, metavar="B",
        help="B model resamples per baseline for a score interval and how often the ranking holds (default: 0, none)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    competition = load_competition(args.competition)
    names = [name for name in args.baselines.split(",") if name] or available_baselines(competition.forget.kind)
    pool = ensure_pool(competition, args.n_models, phase=args.phase, cache_dir=args.cache_dir, threads=args.threads)
    data = load_data(competition, phase=args.phase)
    original = load_original(competition, pool)
    cutoff = competition.time_cutoff if args.time_cutoff is None else args.time_cutoff
    budget_s = cutoff * pool.reference.seconds("cpu")
    original_confidences = evaluate_model(original, data, include_val=False).forget_confidences
    rows = [evaluate_baseline(name, original, original_confidences, data, competition, pool, budget_s, args.bootstrap) for name in names]
    print_table(rows, pool, cutoff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
