"""The figures of benchmarks/gpu_suite.sh: OUT/figures.json and OUT/summary.md from its work folder.

Reads what each step left (pool_throughput's --json figures, the pool command's "done in" line,
the run's score.json, the checks' PASS/FAIL line) and the steps' statuses; a step that failed,
timed out or was skipped is reported as such, with its reason, never left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

TARGETS = {"stacked_over_one_at_a_time": 5.0, "resnet18_cifar_fraction_of_peak": 0.30}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", required=True, help="gpu or dry-run")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--run-sandbox", required=True)
    parser.add_argument("--seconds", type=int, required=True, help="the suite's wall time so far")
    args = parser.parse_args(argv)

    steps = read_steps(args.work / "steps.tsv")
    figures: dict[str, Any] = {
        "mode": args.mode,
        "dataset": args.dataset,
        "pool_recipe_epochs": args.epochs,
        "suite_seconds": args.seconds,
        "environment": _text(args.work / "logs" / "environment.log").splitlines(),
        "steps": steps,
        "throughput": {arch: throughput(args.work / f"throughput_{arch}.json") for arch in ("resnet18", "resnet18_cifar")},
        "pool_command": pool_command(args.work / "logs"),
        "run": run_figures(args.work / "run" / "score.json", args.run_sandbox, steps.get("run_finetune")),
        "sandboxes": {name: check_figures(args.work / "logs" / f"sandbox_{name}.log", steps.get(f"sandbox_{name}")) for name in ("bwrap", "docker")},
        "targets": TARGETS,
    }
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    (args.out / "summary.md").write_text(summary(figures), encoding="utf-8")
    sys.stdout.write(summary(figures))
    return 0


def read_steps(path: Path) -> dict[str, dict[str, Any]]:
    steps = {}
    for line in _text(path).splitlines():
        name, status, seconds, detail = (line.split("\t") + ["", "", ""])[:4]
        steps[name] = {"status": status, "seconds": int(seconds or 0), "detail": detail}
    return steps


def throughput(path: Path) -> dict[str, Any] | None:
    """pool_throughput's figures, with the achieved FLOP/s of each arm and its fraction of the peak."""
    if not path.is_file():
        return None
    figures = json.loads(path.read_text())
    training = figures["training"]
    n_models = figures["n_models"]
    achieved = {arm: training["flops_per_model"] * n_models / training[f"{arm}_seconds"] for arm in ("sequential", "batched")}
    peak = training.get("peak_flops")
    return {
        "device": figures["device"],
        "data": figures["data"],
        "n_models": n_models,
        "batch_models": figures["batch_models"],
        "one_at_a_time_models_per_hour": training["sequential_models_per_hour"],
        "stacked_models_per_hour": training["batched_models_per_hour"],
        "stacked_over_one_at_a_time": training["sequential_seconds"] / training["batched_seconds"],
        "tflops_one_at_a_time": achieved["sequential"] / 1e12,
        "tflops_stacked": achieved["batched"] / 1e12,
        "fraction_of_peak_one_at_a_time": achieved["sequential"] / peak if peak else None,
        "fraction_of_peak_stacked": achieved["batched"] / peak if peak else None,
        "peak_tflops": peak / 1e12 if peak else None,
        "evaluation_models_per_second": {
            "one_at_a_time": figures["evaluation"]["sequential_models_per_second"],
            "stacked": figures["evaluation"]["batched_models_per_second"],
        },
    }


def pool_command(logs: Path) -> dict[str, Any]:
    found = {}
    for arm in ("one_at_a_time", "stacked"):
        text = _text(logs / f"pool_{arm}.log")
        done = re.search(r"^done in ([0-9.]+) s$", text, re.MULTILINE)
        reference = re.search(r"^reference retrain time: ([0-9.]+) s per model on (.+)$", text, re.MULTILINE)
        found[arm] = {
            "seconds": float(done.group(1)) if done else None,
            "reference_retrain_seconds": float(reference.group(1)) if reference else None,
            "device": reference.group(2) if reference else None,
        }
    one, stacked = found["one_at_a_time"]["seconds"], found["stacked"]["seconds"]
    found["stacked_over_one_at_a_time"] = one / stacked if one and stacked else None
    return found


def run_figures(score: Path, sandbox: str, step: dict[str, Any] | None) -> dict[str, Any]:
    record = json.loads(score.read_text()) if score.is_file() else {}
    keys = ("status", "score", "n_models", "time_fraction", "unlearn_seconds_per_model", "retrain_seconds_per_model",
            "retain_acc_unlearned", "test_acc_unlearned", "failure")
    return {"sandbox": sandbox, "seconds": step["seconds"] if step else None, **{key: record.get(key) for key in keys}}


def check_figures(log: Path, step: dict[str, Any] | None) -> dict[str, Any]:
    verdict = next((line for line in _text(log).splitlines() if line.startswith(("PASS", "FAIL"))), None)
    return {"status": step["status"] if step else "not run", "detail": step["detail"] if step else "", "verdict": verdict,
            "seconds": step["seconds"] if step else None}


def summary(figures: dict[str, Any]) -> str:
    lines = [f"# GPU suite ({figures['mode']})", ""]
    if figures["mode"] != "gpu":
        lines += ["A DRY RUN at toy sizes on the CPU: it checks the suite, its figures mean nothing.", ""]
    lines += [f"- {line}" for line in figures["environment"]]
    lines += [f"- data: {figures['dataset']}; pool recipe cut to {figures['pool_recipe_epochs']} epoch(s); suite {figures['suite_seconds']} s", ""]
    lines += ["| step | status | seconds | detail |", "|---|---|---:|---|"]
    lines += [f"| {name} | {step['status']} | {step['seconds']} | {step['detail']} |" for name, step in figures["steps"].items()]
    lines += ["", "## Training throughput (benchmarks/pool_throughput.py, 1 epoch, interleaved)", ""]
    lines += ["| architecture | models | stack | one at a time (models/h) | stacked (models/h) | stacked / one | TFLOP/s one / stacked | fraction of peak one / stacked |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for arch, tp in figures["throughput"].items():
        if tp is None:
            lines.append(f"| {arch} | not measured (see its step) | | | | | | |")
            continue
        fraction = ("" if tp["fraction_of_peak_stacked"] is None
                    else f"{tp['fraction_of_peak_one_at_a_time']:.1%} / {tp['fraction_of_peak_stacked']:.1%}")
        lines.append(f"| {arch} | {tp['n_models']} | {tp['batch_models']} | {tp['one_at_a_time_models_per_hour']:,.0f} | {tp['stacked_models_per_hour']:,.0f} "
                     f"| **{tp['stacked_over_one_at_a_time']:.2f}** | {tp['tflops_one_at_a_time']:.1f} / {tp['tflops_stacked']:.1f} | {fraction} |")
    pool = figures["pool_command"]
    ratio = pool["stacked_over_one_at_a_time"]
    lines += ["", "## `unlearn-harness pool` end to end", "",
              f"- one at a time: {_seconds(pool['one_at_a_time']['seconds'])}; stacked: {_seconds(pool['stacked']['seconds'])}; "
              f"ratio {'-' if ratio is None else f'{ratio:.2f}'}",
              f"- reference retrain: {_seconds(pool['one_at_a_time']['reference_retrain_seconds'])} on {pool['one_at_a_time']['device']}"]
    run = figures["run"]
    lines += ["", f"## `unlearn-harness run baselines/finetune.py`, N = {run['n_models']}, sandbox {run['sandbox']}", "",
              f"- {run['status']} in {_seconds(run['seconds'])}; score {run['score']}; time used {run['time_fraction']} of a "
              f"{run['retrain_seconds_per_model']} s retrain; failure: {run['failure']}"]
    lines += ["", "## Sandboxes on the device (`unlearn-harness check`)", ""]
    for name, check in figures["sandboxes"].items():
        lines.append(f"- {name}: {check['status']} {check['detail']} {check['verdict'] or ''}".rstrip())
    targets = figures["targets"]
    lines += ["", f"Targets: stacked / one at a time >= {targets['stacked_over_one_at_a_time']:.0f}x (cifar10 pool); "
              f"resnet18_cifar stacked >= {targets['resnet18_cifar_fraction_of_peak']:.0%} of the dense bf16 peak."]
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


if __name__ == "__main__":
    sys.exit(main())
