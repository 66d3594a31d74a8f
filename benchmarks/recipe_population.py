"""What a training recipe does to the retrained population: accuracy, variety and cost per model.

For each recipe variant (the competition's recipe with other epochs and learning rate), trains N
retrained models (the pool's own seeds, on the retain set) one at a time in ONE process with ONE
fixed torch thread count, and reports:

  retain acc  full-batch accuracy on the retain set, the models' training data (mean and minimum:
              a recipe must train every model to full train accuracy)
  test acc    mean test accuracy; forget acc the same on the forget set (unseen by these models)
  phi mean    the forget-set confidence (scoring's logit-scaled confidence), averaged over models
              and examples: how sure the retrained models are about examples they never saw
  phi std     per forget example, the standard deviation of its confidence across the N models,
              then its mean and median over examples: how varied the retrained population is,
              which the metric compares the unlearned population against
  seconds     wall and CPU time (this process, all threads) per model, training only

It never computes the metric's score: a recipe is chosen for the models it trains, not for how
submissions then score. Variants are interleaved model by model, so a machine whose load changes
during the run slows them alike. The figures behind the shipped digits recipe are quoted in
harness/config/competitions/digits.toml; quiet-machine figures belong in benchmarks/RESULTS.md.

    python benchmarks/recipe_population.py --competition digits --n-models 16 --recipe 12:0.05 --recipe 60:0.05 --recipe 60:0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from harness.config import Competition, load_competition
from harness.data import load_data
from harness.compute.devices import describe_device
from harness.evaluation.model import evaluate_model
from harness.training.architectures import build_model
from harness.pool import RETRAINED, model_seed
from harness.training.trainer import train_model
from harness.training.warmup import warm_up


def parse_variant(text: str) -> tuple[int, float]:
    """"60:0.05" -> (60 epochs, lr 0.05)."""
    try:
        epochs, lr = text.split(":")
        parsed = int(epochs), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a recipe variant is EPOCHS:LR, e.g. 60:0.05, got {text!r}") from None
    if parsed[0] < 1 or not parsed[1] > 0:
        raise argparse.ArgumentTypeError(f"epochs must be at least 1 and lr positive, got {text!r}")
    return parsed


def variant(competition: Competition, epochs: int, lr: float) -> Competition:
    return dataclasses.replace(competition, recipe=dataclasses.replace(competition.recipe, epochs=epochs, lr=lr))


def summarise(evaluations: list, wall: list[float], cpu: list[float]) -> dict:
    phi = np.stack([evaluation.forget_confidences for evaluation in evaluations])  # [N, E]
    per_example_std = phi.std(axis=0, ddof=1)
    retain = [evaluation.retain_acc for evaluation in evaluations]
    return {
        "retain_acc_mean": float(np.mean(retain)),
        "retain_acc_min": float(np.min(retain)),
        "test_acc_mean": float(np.mean([evaluation.test_acc for evaluation in evaluations])),
        "forget_acc_mean": float(np.mean([evaluation.forget_acc for evaluation in evaluations])),
        "phi_mean": float(phi.mean()),
        "phi_std_mean": float(per_example_std.mean()),
        "phi_std_median": float(np.median(per_example_std)),
        "wall_seconds_per_model": float(statistics.median(wall)),
        "cpu_seconds_per_model": float(statistics.median(cpu)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competition", default="digits", help="shipped competition name or .toml path (default: digits)")
    parser.add_argument("--phase", default="public")
    parser.add_argument("--n-models", type=int, default=16, help="retrained models per variant (default: 16)")
    parser.add_argument("--recipe", type=parse_variant, action="append", metavar="EPOCHS:LR",
                        help="a variant of the competition's recipe (repeatable; default: the recipe itself)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.n_models < 2:
        parser.error("--n-models must be at least 2 (a spread needs two models)")

    torch.set_num_threads(args.threads)
    competition = load_competition(args.competition)
    variants = args.recipe or [(competition.recipe.epochs, competition.recipe.lr)]
    data = load_data(competition, args.phase)
    template = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    warm_up(template, "cpu", data.retain, competition.recipe.batch_size)

    runs = {spec: {"evaluations": [], "wall": [], "cpu": []} for spec in variants}
    for index in range(args.n_models):
        seed = model_seed(competition, RETRAINED, index)
        for spec in (variants if index % 2 == 0 else variants[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            trained = train_model(variant(competition, *spec), data, train_on="retain", seed=seed, progress=False)
            runs[spec]["wall"].append(time.perf_counter() - wall)
            runs[spec]["cpu"].append(time.process_time() - cpu)
            runs[spec]["evaluations"].append(evaluate_model(trained.model, data))

    print(f"{competition.name}/{args.phase}: {args.n_models} retrained models per variant on {describe_device('cpu', args.threads)}")
    print(f"recipe: {competition.recipe.optimizer}, {competition.recipe.schedule} schedule, batch {competition.recipe.batch_size}; "
          f"retain {len(data.retain)}, forget {len(data.forget)}, test {len(data.test)} examples")
    header = ("epochs", "lr", "retain acc (mean/min)", "test acc", "forget acc", "phi mean", "phi std (mean/median)", "s/model wall", "s/model CPU")
    print(" | ".join(header))
    figures = {}
    for spec in variants:
        row = summarise(runs[spec]["evaluations"], runs[spec]["wall"], runs[spec]["cpu"])
        figures[f"{spec[0]}:{spec[1]:g}"] = row
        print(" | ".join([
            str(spec[0]), f"{spec[1]:g}",
            f"{100 * row['retain_acc_mean']:.2f}% / {100 * row['retain_acc_min']:.2f}%",
            f"{100 * row['test_acc_mean']:.2f}%", f"{100 * row['forget_acc_mean']:.2f}%",
            f"{row['phi_mean']:.2f}", f"{row['phi_std_mean']:.3f} / {row['phi_std_median']:.3f}",
            f"{row['wall_seconds_per_model']:.2f}", f"{row['cpu_seconds_per_model']:.2f}",
        ]))
    if args.json:
        args.json.write_text(json.dumps({"competition": competition.name, "phase": args.phase, "n_models": args.n_models,
                                         "threads": args.threads, "variants": figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
