"""Speed of `scoring.example_epsilons` against the literal port of the official scorer.

Builds synthetic but realistic confidence populations (per-example centres and spreads, heavy
tails, some peaky and some separated examples), times the fast scorer on all of them, times the
slow reference on a random subset, checks the epsilons are identical there, and prints the
figures. Example:

    python benchmarks/scoring_speed.py --n-examples 5000 --n-models 512 --jobs 2 --check-examples 20
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "scoring")]  # the harness, and the reference (in tests/scoring/)

from harness.compute.machine import cpu_model  # noqa: E402 (torch-free)


def synthetic_populations(n_models: int, n_examples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[N, E] unlearned and retrained confidences shaped like real forget-set logit confidences."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(2.0, 2.5, n_examples)  # retrained models: unseen examples, moderate phi
    scale = rng.uniform(0.4, 2.5, n_examples)
    # Unlearned models keep some memory of the forget set: higher, slightly narrower.
    shift = np.abs(rng.normal(0.3, 0.4, n_examples))
    unlearned_scale = scale * rng.uniform(0.6, 1.2, n_examples)
    tails = 6.0  # Student-t draws: occasional confident or badly wrong models
    R = centre + scale * rng.standard_t(tails, size=(n_models, n_examples))
    U = centre + shift + unlearned_scale * rng.standard_t(tails, size=(n_models, n_examples))
    kinds = rng.choice(3, size=n_examples, p=[0.94, 0.03, 0.03])
    peaky = kinds == 1  # a too-deterministic unlearner on these examples: capped by the guard
    U[:, peaky] = centre[peaky] + 1e-3 * scale[peaky] * rng.normal(size=(n_models, int(peaky.sum())))
    separated = kinds == 2  # still memorised: perfectly separable
    U[:, separated] += 8.0 + 6.0 * scale[separated]
    return np.clip(U, -100, 100), np.clip(R, -100, 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-examples", type=int, default=5000)
    parser.add_argument("--n-models", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers for the fast scorer (and torch threads of the reference)")
    parser.add_argument("--check-examples", type=int, default=20, help="random examples also scored by the slow reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import scoring

    U, R = synthetic_populations(args.n_models, args.n_examples, args.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device: {cpu_model()}, {os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"populations: N = {args.n_models} models, E = {args.n_examples} examples; jobs = {args.jobs}")

    start, cpu_start = time.perf_counter(), time.process_time()
    epsilons = scoring.example_epsilons(U, R, n_jobs=args.jobs)
    fast_seconds = time.perf_counter() - start
    # CPU seconds of all threads: what the work costs, less sensitive than wall time to other
    # processes sharing the cores.
    cpu_seconds = time.process_time() - cpu_start
    quality = scoring.forgetting_quality(epsilons, args.n_models)
    n_capped = int((epsilons == scoring.EPSILON_CAP).sum())
    print(
        f"fast: {fast_seconds:.2f} s wall, {cpu_seconds:.2f} s CPU for {args.n_examples} examples "
        f"({fast_seconds / args.n_examples * 1e3:.2f} ms per example); F = {quality:.6f}, {n_capped} capped"
    )

    if args.check_examples > 0:
        import torch

        from scoring_reference import reference_epsilons

        torch.set_num_threads(args.jobs)
        rng = np.random.default_rng(args.seed + 1)
        subset = np.sort(rng.choice(args.n_examples, min(args.check_examples, args.n_examples), replace=False))
        start = time.perf_counter()
        expected = reference_epsilons(U[:, subset], R[:, subset])
        reference_seconds = (time.perf_counter() - start) / subset.size
        expected = np.where(np.isnan(expected), 0.0, expected)
        identical = np.array_equal(expected, epsilons[subset])
        speedup = reference_seconds / (fast_seconds / args.n_examples)
        print(
            f"reference: {reference_seconds:.2f} s per example on {subset.size} random examples "
            f"(torch CPU, {args.jobs} threads); speed-up {speedup:.0f}x; epsilons identical: {identical}"
        )
        if not identical:
            differ = subset[expected != epsilons[subset]]
            print(f"MISMATCH at examples {differ.tolist()}", file=sys.stderr)
            return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
