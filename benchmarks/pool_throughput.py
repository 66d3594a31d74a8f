"""Retrain-pool throughput: one-at-a-time vs stacked (harness.training.stacked) training, evaluation and scoring.

Side by side in ONE process with ONE fixed torch thread count, on the same N models (the pool's own
seeds), it measures:

  training    harness.training.trainer.train_model N times vs harness.training.stacked.train_models, K per stack.
              The two are interleaved stack by stack (alternating which goes first), so a machine
              whose load changes during the run slows both alike. Models/hour of each, achieved
              FLOP/s (the model's forward FLOPs on one batch, counted by FlopCounterMode, x3 for
              forward + backward) and its fraction of the device's peak where the peak is known.
  evaluation  harness.evaluation.model.evaluate_model per model vs harness.training.stacked.evaluate_models:
              models evaluated per second, and how closely the two agree.
  scoring     scoring.example_epsilons on the two populations' forget-set confidences at this N:
              examples per second; and F (scoring.forget_score) of stacked vs one-at-a-time
              models next to scoring.calibration_reference of the pooled 2N (both arms share
              seeds, so this is a sanity check; the distribution test with independent seeds is
              tests/training/test_stacked_statistics.py).

Optional sections: --processes P adds the pool's other way to use the cores (P worker processes,
each with threads / P torch threads, training one model at a time, and stacked); --strategies
times one training step of the candidate batching techniques (torch.func vmap over
functional_call, a grouped-convolution stack in NCHW and in channels_last, one model at a time).
--bf16 trains the stacked arm under bf16 autocast on CPU too (train_models(bf16=True)).

The last line is `ratio batched/sequential: X` (models/hour stacked / models/hour one at a time).
`cifar10` without the archive runs on synthetic CIFAR-shaped data of the real size
(harness.data.readers.synthetic_cifar10), and says so. Results: benchmarks/RESULTS.md, section "Pool throughput".

    python benchmarks/pool_throughput.py --competition digits --n-models 32
    python benchmarks/pool_throughput.py --competition digits --n-models 32 --processes 2 --strategies
    python benchmarks/pool_throughput.py --competition cifar10 --n-models 64 --device cuda --batch-models 64 --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from harness.training.allocator import keep_freed_memory
from harness.evaluation.stacked import evaluate_models
from harness.training.stacked import train_models
from harness.config import Competition, load_competition
from harness.data import CompetitionData, Split
from harness.data import load_data
from harness.compute.devices import describe_device, resolve_device
from harness.compute.machine import usable_cores
from harness.errors import DataError, HarnessError
from harness.evaluation.model import evaluate_model
from harness.training.architectures import build_model
from harness.pool import RETRAINED, model_seed
from harness.training.trainer import train_model
from scoring import calibration_reference, example_epsilons, forget_score

# Dense bf16 tensor-core peaks (FLOP/s) of the GPUs this benchmark knows, matched on the device name.
GPU_PEAKS = {"H200": 989e12, "H100": 989e12}


# ---------------------------------------------------------------------------------------------
# Data


def competition_data(competition: Competition, phase: str, data_dir: str | None) -> tuple[CompetitionData, str]:
    """The competition's real data, or for cifar10 without its archive synthetic data of the real size."""
    try:
        return load_data(competition, phase, data_dir, download=False), f"the competition's ({competition.dataset})"
    except DataError as error:
        if competition.dataset != "cifar10":
            raise
        print(f"note: {error}", file=sys.stderr)
        synthetic = dataclasses.replace(competition, name=f"{competition.name}-synthetic", dataset="synthetic_cifar10")
        return load_data(synthetic, phase), "SYNTHETIC (harness.data.readers.synthetic_cifar10: CIFAR-shaped class patterns plus noise; no CIFAR-10 archive found)"


def load_benchmark_data(competition: Competition, phase: str, data_dir: str | None, subset: int | None) -> tuple[CompetitionData, str]:
    """competition_data, cut to the first `subset` examples of each split when asked."""
    data, kind = competition_data(competition, phase, data_dir)
    if subset is None:
        return data, kind
    splits = {name: _head(getattr(data, name), subset) for name in ("retain", "forget", "val", "test")}
    return dataclasses.replace(data, **splits), f"{kind}, first {subset} examples of each split"


# ---------------------------------------------------------------------------------------------
# FLOPs and peaks


def forward_flops_per_example(competition: Competition, data: CompetitionData) -> float:
    """Forward FLOPs of one model per example, counted by FlopCounterMode on one training batch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(competition.architecture, data.num_classes, data.in_channels).eval()
    batch = data.retain.images[: competition.recipe.batch_size]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(batch)
    return counter.get_total_flops() / len(batch)


def training_flops_per_model(competition: Competition, data: CompetitionData, per_example: float) -> float:
    """FLOPs of training one retrained model: forward + backward (x3) on every trained example, + validation forwards."""
    recipe = competition.recipe
    n = len(data.retain)
    trained = n - 1 if n % recipe.batch_size == 1 else n  # a lone last example is skipped (BatchNorm)
    total = 3 * per_example * trained * recipe.epochs
    if recipe.best_val_from_epoch is not None:
        total += per_example * len(data.val) * (recipe.epochs - recipe.best_val_from_epoch)
    return total


def device_peak(device: torch.device) -> tuple[float | None, str]:
    """(peak FLOP/s, how it is known) for a known GPU; (None, why not) otherwise."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAKS.items():
            if key in name:
                return peak, f"{name}: dense bf16 peak {peak / 1e12:.0f} TFLOP/s"
        return None, f"{name}: peak unknown"
    return None, "CPU peak unknown (a virtual CPU: the FMA units and clocks behind it are not visible)"


def gemm_ceiling(device: torch.device) -> float:
    """Best fp32 (CPU) or bf16 (CUDA) GEMM FLOP/s measured now: what this device sustains on ideal work."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = 8192 if device.type == "cuda" else 2048
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(4):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass
class TrainingResult:
    sequential_seconds: float  # wall clock
    batched_seconds: float
    sequential_cpu_seconds: float  # this process's CPU time: what the work cost, whatever else ran
    batched_cpu_seconds: float
    sequential_models: list
    batched_models: list

    @property
    def ratio(self) -> float:
        return self.sequential_seconds / self.batched_seconds


def measure_training(competition: Competition, data: CompetitionData, seeds: list[int], device: str, batch_models: int, bf16: bool | None) -> TrainingResult:
    """Train the same seeds one at a time and stacked, interleaved stack by stack."""
    _warm_up(competition, data, device, batch_models, bf16)
    wall = {"sequential": 0.0, "batched": 0.0}
    cpu = {"sequential": 0.0, "batched": 0.0}
    sequential, batched = [], []
    groups = [seeds[start : start + batch_models] for start in range(0, len(seeds), batch_models)]
    for number, group in enumerate(groups):
        # Alternate which goes first so that a drifting machine load favours neither.
        order = ("sequential", "batched") if number % 2 == 0 else ("batched", "sequential")
        for arm in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            if arm == "sequential":
                sequential += [train_model(competition, data, seed=seed, device=device, progress=False) for seed in group]
            else:
                batched += train_models(competition, data, seeds=group, device=device, batch_models=batch_models, bf16=bf16, progress=False)
            wall[arm] += time.perf_counter() - start
            cpu[arm] += time.process_time() - start_cpu
        print(f"  stack {number + 1}/{len(groups)}: {len(sequential)} models each so far; one at a time {wall['sequential']:.1f} s, stacked {wall['batched']:.1f} s (load {_load()})", flush=True)
    return TrainingResult(wall["sequential"], wall["batched"], cpu["sequential"], cpu["batched"], [t.model for t in sequential], [t.model for t in batched])


def _warm_up(competition: Competition, data: CompetitionData, device: str, batch_models: int, bf16: bool | None) -> None:
    """One short run of each path, untimed: one-time costs (kernel selection, allocator) are not throughput."""
    quick = dataclasses.replace(competition.recipe, epochs=1, best_val_from_epoch=None)
    small = dataclasses.replace(data, retain=_head(data.retain, 4 * competition.recipe.batch_size))
    train_model(quick, small, seed=0, device=device, progress=False, architecture=competition.architecture)
    train_models(quick, small, seeds=list(range(min(batch_models, 2))), device=device, bf16=bf16, progress=False, architecture=competition.architecture)


def _head(split: Split, n: int) -> Split:
    return Split(split.images[:n], split.labels[:n], split.ids[:n])


def measure_evaluation(models_a: list, models_b: list, data: CompetitionData, device: str, batch_models: int) -> dict:
    """evaluate_model one by one vs evaluate_models stacked, on all 2N models; agreement of the two.

    Each arm runs twice in the order A B B A and keeps its faster run, so that a burst of other
    load on the machine does not decide the comparison.
    """
    models = models_a + models_b
    evaluate_models(models[:2], data, device=device, batch_models=2)  # warm-up
    seconds = {"sequential": float("inf"), "batched": float("inf")}
    results = {}
    for arm in ("sequential", "batched", "batched", "sequential"):
        start = time.perf_counter()
        if arm == "sequential":
            results[arm] = [evaluate_model(model, data, device=device) for model in models]
        else:
            results[arm] = evaluate_models(models, data, device=device, batch_models=batch_models)
        seconds[arm] = min(seconds[arm], time.perf_counter() - start)
    one_by_one, stacked = results["sequential"], results["batched"]
    confidence_gap = max(float(np.max(np.abs(a.forget_confidences - b.forget_confidences))) for a, b in zip(one_by_one, stacked))
    accuracy_gap = max(abs(a.test_acc - b.test_acc) + abs(a.retain_acc - b.retain_acc) for a, b in zip(one_by_one, stacked))
    return {
        "models": len(models),
        "sequential_models_per_second": len(models) / seconds["sequential"],
        "batched_models_per_second": len(models) / seconds["batched"],
        "max_confidence_difference": confidence_gap,
        "max_accuracy_difference": accuracy_gap,
        "batched_evaluations": stacked,
        "sequential_evaluations": one_by_one,
    }


def measure_scoring(batched: list, sequential: list) -> dict:
    """example_epsilons throughput at this N; F of stacked vs one-at-a-time models next to its null distribution.

    The null is scoring.calibration_reference over the pooled 2N models: random halves of N, i.e.
    F of two samples of one population at the same N.
    """
    U = np.stack([evaluation.forget_confidences for evaluation in batched])
    R = np.stack([evaluation.forget_confidences for evaluation in sequential])
    start = time.perf_counter()
    example_epsilons(U, R)
    seconds = time.perf_counter() - start
    result = {"examples": U.shape[1], "n_models": U.shape[0], "examples_per_second": U.shape[1] / seconds, "seconds": seconds}
    result["forget_quality_batched_vs_sequential"] = forget_score(U, R)
    if R.shape[0] >= 2:
        reference = calibration_reference(np.vstack([U, R]), n_splits=5)
        result["calibration_reference"] = {"mean": reference.forget_quality, "spread": reference.spread, "models_per_half": reference.n_models}
    return result


def measure_processes(competition: Competition, phase: str, data_dir: str | None, subset: int | None, seeds: list[int], device: str, processes: int, threads: int, batch_models: int, bf16: bool | None) -> dict:
    """The pool's way to use the cores: `processes` loky workers, threads // processes torch threads each.

    The workers are started, loaded with the data and warmed up first (loky reuses them), so both
    arms time training only, as in a pool that builds many models per worker.
    """
    import joblib

    per_worker = max(1, threads // processes)
    shares = [seeds[index::processes] for index in range(processes)]
    results: dict = {"threads_per_worker": per_worker}
    with joblib.parallel_config(backend="loky", n_jobs=processes):
        start = time.perf_counter()
        joblib.Parallel()(joblib.delayed(_worker_train)(competition, phase, data_dir, subset, [], device, per_worker, "warm-up", batch_models, bf16) for _ in shares)
        results["start_up_seconds"] = time.perf_counter() - start
        for arm in ("sequential", "batched"):
            start = time.perf_counter()
            joblib.Parallel()(joblib.delayed(_worker_train)(competition, phase, data_dir, subset, share, device, per_worker, arm, batch_models, bf16) for share in shares)
            seconds = time.perf_counter() - start
            results[arm] = {"seconds": seconds, "models_per_hour": 3600 * len(seeds) / seconds}
    return results


# A worker process keeps its data between calls, as the pool's workers do.
_worker_data: dict[tuple, CompetitionData] = {}


def _worker_train(competition, phase, data_dir, subset, seeds, device, threads, arm, batch_models, bf16) -> None:
    torch.set_num_threads(threads)
    key = (competition.fingerprint_json(), phase, data_dir, subset)
    if key not in _worker_data:
        _worker_data[key] = load_benchmark_data(competition, phase, data_dir, subset)[0]
    data = _worker_data[key]
    if arm == "warm-up":
        _warm_up(competition, data, device, batch_models, bf16)
    elif arm == "sequential":
        for seed in seeds:
            train_model(competition, data, seed=seed, device=device, progress=False)
    else:
        train_models(competition, data, seeds=seeds, device=device, batch_models=batch_models, bf16=bf16, progress=False)


def measure_strategies(competition: Competition, data: CompetitionData, device: torch.device, n_models: int, steps: int = 10) -> dict[str, float]:
    """Seconds per model per training step of each batching technique, on one real batch per model."""
    from harness.training.stacked.stack import stack_models
    from harness.training.stacked.train import per_model_cross_entropy
    from harness.training.trainer import build_optimizer

    recipe = competition.recipe
    batch = recipe.batch_size
    rows = torch.arange(batch * n_models) % len(data.retain)  # one batch per model, wrapping round small splits
    images = data.retain.images[rows].to(device).view(n_models, batch, *data.retain.images.shape[1:])
    labels = data.retain.labels[rows].to(device).view(n_models, batch)
    on_cuda = device.type == "cuda"

    def autocast():  # as in training: bf16 on CUDA, float32 on CPU
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda)

    def models():
        out = []
        for seed in range(n_models):
            torch.manual_seed(seed)
            out.append(build_model(competition.architecture, data.num_classes, data.in_channels).to(device))
        return out

    def timed(step) -> float:
        """Best of three rounds of `steps` steps (a burst of other load must not decide it)."""
        step()  # warm-up
        best = float("inf")
        for _ in range(3):
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            _sync(device)
            best = min(best, time.perf_counter() - start)
        return best / steps / n_models

    results = {}
    for memory_format, label in ((torch.contiguous_format, "one at a time, NCHW (train_model on CPU)"), (torch.channels_last, "one at a time, channels_last")):
        separate = [model.to(memory_format=memory_format) for model in models()]
        optimizers = [build_optimizer(recipe, model) for model in separate]

        def one_at_a_time(separate=separate, optimizers=optimizers, memory_format=memory_format):
            for index, (model, optimizer) in enumerate(zip(separate, optimizers)):
                with autocast():
                    logits = model(images[index].contiguous(memory_format=memory_format))
                loss = torch.nn.functional.cross_entropy(logits.float(), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        results[label] = timed(one_at_a_time)

    # torch.func: the K models' weights stacked, one functional_call vmapped over them. BatchNorm's
    # running statistics are passed in as stacked buffers so that vmap updates each model's own.
    from torch.func import functional_call, stack_module_state, vmap

    separate = models()
    params, buffers = stack_module_state(separate)
    params = {name: tensor.detach().requires_grad_() for name, tensor in params.items()}
    base = build_model(competition.architecture, data.num_classes, data.in_channels).to("meta").train()
    # optimizer reads only .parameters(): hand it the stacked tensors.
    vmap_optimizer = build_optimizer(recipe, SimpleNamespace(parameters=lambda: iter(params.values())))
    batched_forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))

    def vmapped():
        with autocast():
            logits = batched_forward(params, buffers, images)
        loss = per_model_cross_entropy(logits.float(), labels).sum()
        vmap_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        vmap_optimizer.step()

    results["torch.func vmap(functional_call)"] = timed(vmapped)

    for channels_last, label in ((False, "grouped-convolution stack, NCHW"), (True, "grouped-convolution stack, channels_last (harness.training.stacked)")):
        stacked = stack_models(models()).to(device)
        if channels_last:
            stacked.use_channels_last()
        stacked.train()
        optimizer = build_optimizer(recipe, stacked)

        def grouped(stacked=stacked, optimizer=optimizer):
            with autocast():
                logits = stacked(images)
            loss = per_model_cross_entropy(logits.float(), labels).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        results[label] = timed(grouped)
    return results


# ---------------------------------------------------------------------------------------------
# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition", default="digits", help="shipped competition name or .toml path (default: digits)")
    parser.add_argument("--phase", default="public")
    parser.add_argument("--n-models", type=int, default=32, help="models trained by each arm (default: 32)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    parser.add_argument("--batch-models", type=int, default=None, help="models per stack (default: harness.training.stacked's default for the device)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the whole run (default: the usable cores)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (throughput per epoch is what counts)")
    parser.add_argument("--subset", type=int, default=None, metavar="M", help="keep only the first M examples of each split (a quick run: per-step costs are unchanged)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--bf16", action="store_true", help="stacked arm under bf16 autocast on CPU too (train_models(bf16=True)); one at a time stays as train_model")
    parser.add_argument("--processes", type=int, default=0, help="also train in this many worker processes (the pool's joblib way)")
    parser.add_argument("--strategies", action="store_true", help="also time one training step of each batching technique")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from harness.training.stacked import default_batch_models

    if args.n_models < 2:
        raise HarnessError(f"--n-models must be at least 2 (two populations to score), got {args.n_models}")
    threads = args.threads or usable_cores()
    torch.set_num_threads(threads)
    keep_freed_memory()  # as the pool's workers do before training stacks (one at a time is unaffected)
    device = resolve_device(args.device)
    batch_models = args.batch_models or default_batch_models(device)
    competition = load_competition(args.competition)
    if args.epochs is not None:
        recipe = competition.recipe
        best_from = recipe.best_val_from_epoch
        if best_from is not None:
            best_from = min(best_from, args.epochs - 1)
        competition = dataclasses.replace(competition, recipe=dataclasses.replace(recipe, epochs=args.epochs, best_val_from_epoch=best_from))
    if args.subset is not None and args.subset < 2:
        raise HarnessError(f"--subset must be at least 2 examples, got {args.subset}")
    data, data_kind = load_benchmark_data(competition, args.phase, args.data_dir, args.subset)
    seeds = [model_seed(competition, RETRAINED, index) for index in range(args.n_models)]

    print(f"command: python {' '.join([sys.argv[0], *sys.argv[1:]])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    print(f"device: {describe_device(device, threads)}; torch {torch.__version__}; python {platform.python_version()}")
    print(f"harness imported from: {Path(sys.modules['harness'].__file__).parent}")
    print(f"torch threads (fixed for the whole run): {torch.get_num_threads()}; usable cores: {usable_cores()}; load average at start: {_load()}")
    print(f"competition: {competition.name} ({competition.architecture}, {competition.recipe.epochs} epochs, batch {competition.recipe.batch_size}); data: {data_kind}")
    print(f"splits: retain {len(data.retain)}, forget {len(data.forget)}, val {len(data.val)}, test {len(data.test)}; N = {args.n_models} models per arm, {batch_models} per stack")
    precision = "bf16 autocast" if args.bf16 or device.type == "cuda" else "float32"
    print(f"precision: one at a time as train_model ({'bf16 autocast' if device.type == 'cuda' else 'float32'}); stacked {precision}")
    figures: dict = {"command": " ".join(sys.argv), "device": describe_device(device, threads), "threads": threads, "n_models": args.n_models, "batch_models": batch_models, "data": data_kind, "stacked_bf16": bool(args.bf16 or device.type == "cuda")}

    per_example = forward_flops_per_example(competition, data)
    per_model = training_flops_per_model(competition, data, per_example)
    peak, peak_note = device_peak(device)
    ceiling = gemm_ceiling(device)
    print(f"\n[flops] forward {per_example / 1e6:.2f} MFLOP per example; training one model {per_model / 1e9:.1f} GFLOP (x3 forward for backward)")
    print(f"[flops] {peak_note}; measured {'bf16' if device.type == 'cuda' else 'fp32'} GEMM ceiling now: {ceiling / 1e9:.0f} GFLOP/s")

    print("\n[training] one at a time vs stacked, interleaved:")
    bf16 = True if args.bf16 else None
    training = measure_training(competition, data, seeds, str(device), batch_models, bf16)
    arms = (("one at a time", training.sequential_seconds, training.sequential_cpu_seconds), ("stacked", training.batched_seconds, training.batched_cpu_seconds))
    for arm, seconds, cpu_seconds in arms:
        achieved = per_model * args.n_models / seconds
        fraction = f"{achieved / peak:.2%} of peak" if peak else f"{achieved / ceiling:.1%} of the measured GEMM ceiling (peak unknown)"
        print(f"[training] {arm:14s} {seconds:8.1f} s wall, {cpu_seconds:8.1f} s CPU  {3600 * args.n_models / seconds:9.0f} models/hour  {achieved / 1e9:8.1f} GFLOP/s  {fraction}")
    print(f"[training] CPU-time ratio one-at-a-time/stacked: {training.sequential_cpu_seconds / training.batched_cpu_seconds:.2f} (the CPU time this process used: with one thread it hardly depends on what else runs)")
    figures["training"] = {
        "sequential_seconds": training.sequential_seconds,
        "batched_seconds": training.batched_seconds,
        "sequential_cpu_seconds": training.sequential_cpu_seconds,
        "batched_cpu_seconds": training.batched_cpu_seconds,
        "sequential_models_per_hour": 3600 * args.n_models / training.sequential_seconds,
        "batched_models_per_hour": 3600 * args.n_models / training.batched_seconds,
        "flops_per_model": per_model,
        "peak_flops": peak,
        "gemm_ceiling_flops": ceiling,
    }

    print("\n[evaluation] evaluate_model one by one vs evaluate_models stacked, on all 2N models (best of 2 runs each):")
    evaluation = measure_evaluation(training.sequential_models, training.batched_models, data, str(device), batch_models)
    print(f"[evaluation] one by one {evaluation['sequential_models_per_second']:.2f} models/s; stacked {evaluation['batched_models_per_second']:.2f} models/s "
          f"(x{evaluation['batched_models_per_second'] / evaluation['sequential_models_per_second']:.2f}); largest difference: confidence {evaluation['max_confidence_difference']:.2g}, accuracy {evaluation['max_accuracy_difference']:.2g}")
    n = args.n_models
    # evaluate_models' results for both populations: models [0, N) trained one at a time, [N, 2N) stacked.
    scoring = measure_scoring(evaluation["batched_evaluations"][n:], evaluation["batched_evaluations"][:n])
    print(f"\n[scoring] example_epsilons at N = {scoring['n_models']}: {scoring['examples']} examples in {scoring['seconds']:.2f} s = {scoring['examples_per_second']:.0f} examples/s")
    line = f"[scoring] F(stacked vs one-at-a-time models, N = {scoring['n_models']}) = {scoring['forget_quality_batched_vs_sequential']:.3f}"
    if "calibration_reference" in scoring:
        reference = scoring["calibration_reference"]
        line += f"; two samples of one population (random halves of all 2N, calibration_reference) = {reference['mean']:.3f} +- {reference['spread']:.3f}"
    print(line)
    if competition.recipe.augmentation == "none" and device.type == "cpu":
        print("[scoring] (both arms train the same seeds and, on CPU without augmentation, see the same batches: each stacked model is nearly"
              " its one-at-a-time twin, so F sits above that null; tests/training/test_stacked_statistics.py tests independent seeds)")
    figures["evaluation"] = {key: value for key, value in evaluation.items() if not key.endswith("_evaluations")}
    figures["scoring"] = scoring

    if args.processes:
        print(f"\n[processes] {args.processes} worker processes (loky), N = {args.n_models} models, started and warmed up first:")
        processes = measure_processes(competition, args.phase, args.data_dir, args.subset, seeds, str(device), args.processes, threads, batch_models, bf16)
        print(f"[processes] start-up, data and warm-up (not counted): {processes['start_up_seconds']:.1f} s")
        for arm, label in (("sequential", "one at a time"), ("batched", "stacked")):
            print(f"[processes] {label:14s} in {args.processes} x {processes['threads_per_worker']} threads: {processes[arm]['seconds']:.1f} s, {processes[arm]['models_per_hour']:.0f} models/hour")
        print(f"[processes] stacked/one-at-a-time in processes: {processes['sequential']['seconds'] / processes['batched']['seconds']:.2f};"
              f" stacked in processes vs one at a time in this process: {training.sequential_seconds / processes['batched']['seconds']:.2f}")
        figures["processes"] = processes

    if args.strategies:
        print(f"\n[strategies] time per model per training step, {batch_models} models, batch {competition.recipe.batch_size}:")
        strategies = measure_strategies(competition, data, device, batch_models)
        for label, seconds in sorted(strategies.items(), key=lambda item: item[1]):
            print(f"[strategies] {seconds * 1e3:8.2f} ms  {label}")
        figures["strategies"] = strategies

    print(f"\nload average at end: {_load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"ratio batched/sequential: {training.ratio:.2f}")
    return 0


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
