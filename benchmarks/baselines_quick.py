"""Quick comparison of the baselines on a small competition (digits by default), without a sandbox.

For each baseline: N unlearning runs from the pool's original model, each seeded and called the way
the sandbox worker calls a submission (UNLEARN_* environment, loaders in the competition's batch
format, the time budget = cutoff x the pool's reference retrain time), then the trusted evaluation
(harness.evaluation) and the official scoring (scoring.forget_score, scoring.final_score) against
the pool's N retrained models. Prints one table row per baseline.

This is a development tool: the ranking that counts comes from the full pipeline
(`unlearn-harness reproduce`), which also sandboxes and times runs from outside.

    python benchmarks/baselines_quick.py                       # digits, N = 8, every baseline
    python benchmarks/baselines_quick.py --competition digits-class --baselines finetune,svd_class_unlearning
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

from harness.competition import load_competition
from harness.data import make_loader
from harness.datasets import load_data
from harness.evaluation import evaluate_model
from harness.models import build_model
from harness.pipeline import UNLEARN_SEED_BASE
from harness.pool import ensure_pool
from harness.progress import progress
from scoring import final_score, forget_score

BASELINES_DIR = Path(__file__).resolve().parents[1] / "baselines"
CLASS_ONLY = {"svd_class_unlearning"}


@dataclass
class Row:
    name: str
    time_fraction: float  # mean unlearning time / reference retrain time
    forget_acc: float
    retain_acc: float
    test_acc: float
    forget_quality: float
    score: float


def available_baselines(forget_kind: str) -> list[str]:
    names = sorted(path.stem for path in BASELINES_DIR.glob("*.py") if path.stem != "__init__")
    return [name for name in names if forget_kind == "class" or name not in CLASS_ONLY]


def load_submission(name: str):
    path = BASELINES_DIR / f"{name}.py"
    if not path.is_file():
        raise SystemExit(f"no baseline {name!r}; available: {', '.join(available_baselines('class'))}")
    spec = importlib.util.spec_from_file_location(f"submission_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_original(competition, pool) -> torch.nn.Module:
    from safetensors.torch import load_file

    net = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    net.load_state_dict(load_file(str(pool.original_weights_path)))
    return net


def unlearn_once(module, original, data, competition, seed: int, budget_s: float) -> tuple[torch.nn.Module, float]:
    """One run as the sandbox worker makes it; returns the model and its wall time."""
    os.environ.update(
        UNLEARN_SEED=str(seed),
        UNLEARN_TIME_BUDGET_S=repr(budget_s),
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
    started = time.perf_counter()
    returned = module.unlearn(net, loader(data.retain, True), loader(data.forget, True), loader(data.val, True))
    return (net if returned is None else returned), time.perf_counter() - started


def evaluate_baseline(name: str, original, data, competition, pool, budget_s: float) -> Row:
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
    quality = forget_score(np.stack(confidences), pool.retrained_confidences)
    score = final_score(
        quality,
        float(np.mean(retain)),
        float(np.mean([r.retain_acc for r in retrained])),
        float(np.mean(test)),
        float(np.mean([r.test_acc for r in retrained])),
    )
    return Row(name, float(np.mean(seconds)) / pool.reference_retrain_seconds, float(np.mean(forget)), float(np.mean(retain)), float(np.mean(test)), quality, score)


def print_table(rows: list[Row], pool, cutoff: float) -> None:
    retrained = pool.retrained
    print(f"\nreference retrain: {pool.reference_retrain_seconds:.2f} s on {pool.reference_device}; cutoff {cutoff:g} x retrain")
    print(
        f"retrained models: forget acc {np.mean([r.forget_acc for r in retrained]):.3f}  retain acc "
        f"{np.mean([r.retain_acc for r in retrained]):.3f}  test acc {np.mean([r.test_acc for r in retrained]):.3f}\n"
    )
    header = f"{'baseline':24s} {'time/retrain':>12s} {'forget acc':>10s} {'retain acc':>10s} {'test acc':>9s} {'F':>7s} {'score':>7s}"
    print(header)
    print("-" * len(header))
    for row in sorted(rows, key=lambda row: -row.score):
        late = " (over)" if row.time_fraction > cutoff else ""
        print(
            f"{row.name:24s} {row.time_fraction:12.3f} {row.forget_acc:10.3f} {row.retain_acc:10.3f} {row.test_acc:9.3f} "
            f"{row.forget_quality:7.4f} {row.score:7.4f}{late}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competition", default="digits", help="shipped competition name or .toml path (default: digits)")
    parser.add_argument("--phase", default="public")
    parser.add_argument("--n-models", type=int, default=8, help="unlearned and retrained models per baseline (default: 8)")
    parser.add_argument("--baselines", default="", help="comma-separated baseline names (default: every applicable one)")
    parser.add_argument("--cache-dir", default=None, help="where the retrain pool is cached (default: the harness cache)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, for the pool and the runs alike (default: 1)")
    parser.add_argument("--time-cutoff", type=float, default=None, help="budget as a fraction of one retrain (default: the competition's)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    competition = load_competition(args.competition)
    names = [name for name in args.baselines.split(",") if name] or available_baselines(competition.forget.kind)
    pool = ensure_pool(competition, args.n_models, phase=args.phase, cache_dir=args.cache_dir, threads=args.threads)
    data = load_data(competition, phase=args.phase)
    original = load_original(competition, pool)
    cutoff = competition.time_cutoff if args.time_cutoff is None else args.time_cutoff
    budget_s = cutoff * pool.reference_retrain_seconds
    rows = [evaluate_baseline(name, original, data, competition, pool, budget_s) for name in names]
    print_table(rows, pool, cutoff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
