"""The benchmark scripts still run and print their contract lines, at toy sizes.

Their figures are measured by command (benchmarks/RESULTS.md), never here: these runs are far too
small to say anything about speed. Each script runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from locations import BENCHMARKS, QUICK_COMPETITION


pytestmark = pytest.mark.slow


def run_script(name: str, *arguments: str, cwd: Path) -> str:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *arguments],
        capture_output=True, text=True, cwd=cwd, timeout=300,
        env={**os.environ, "UNLEARN_HARNESS_PROGRESS": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_pool_throughput_ends_with_the_ratio_line(tmp_path: Path):
    figures = tmp_path / "figures.json"
    out = run_script(
        "pool_throughput.py", "--competition", "digits", "--n-models", "2", "--batch-models", "2",
        "--epochs", "1", "--subset", "128", "--threads", "1", "--json", str(figures), cwd=tmp_path,
    )
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio batched/sequential: \d+\.\d\d", last), last
    for section in ("[training] one at a time", "[training] stacked", "[evaluation]", "[scoring] example_epsilons"):
        assert section in out
    recorded = json.loads(figures.read_text())
    assert recorded["n_models"] == 2 and recorded["training"]["batched_models_per_hour"] > 0
    assert recorded["evaluation"]["max_accuracy_difference"] == 0.0  # stacked and one-by-one evaluations agree


def test_scoring_speed_checks_against_the_reference(tmp_path: Path):
    out = run_script("scoring_speed.py", "--n-examples", "40", "--n-models", "8", "--jobs", "1", "--check-examples", "3", cwd=tmp_path)
    assert "on 3 random examples" in out and "epsilons identical: True" in out, out


def test_baselines_quick_prints_a_row_per_submission(tmp_path: Path):
    identity = tmp_path / "identity.py"
    identity.write_text("def unlearn(net, retain, forget, val):\n    return net\n")
    # A 10% budget keeps the budget-aware finetune brief; no assertion depends on time.
    out = run_script(
        "baselines_quick.py", "--competition", str(QUICK_COMPETITION), "--baselines", f"finetune,{identity}",
        "--n-models", "2", "--bootstrap", "3", "--time-cutoff", "0.1", "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path,
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("finetune", str(identity)))}
    assert set(rows) == {"finetune", str(identity)}
    # Returning the original model unchanged moves nothing: shift and spread are 0.
    assert rows[str(identity)][7:9] == ["0.00", "0.00"]


def test_recipe_population_prints_a_row_per_variant(tmp_path: Path):
    figures = tmp_path / "figures.json"
    out = run_script(
        "recipe_population.py", "--competition", str(QUICK_COMPETITION), "--n-models", "2",
        "--recipe", "1:0.05", "--recipe", "2:0.01", "--json", str(figures), cwd=tmp_path,
    )
    rows = [line for line in out.splitlines() if line.startswith(("1 | 0.05 |", "2 | 0.01 |"))]
    assert len(rows) == 2, out
    recorded = json.loads(figures.read_text())
    assert set(recorded["variants"]) == {"1:0.05", "2:0.01"}
    for variant in recorded["variants"].values():
        assert 0 <= variant["retain_acc_min"] <= variant["retain_acc_mean"] <= 1 and variant["phi_std_mean"] > 0


def test_resnet18_step_ends_with_the_retrain_estimate(tmp_path: Path):
    figures = tmp_path / "figures.json"
    out = run_script("resnet18_step.py", "--sizes", "8", "--steps", "1", "--epochs", "1", "--json", str(figures), cwd=tmp_path)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"retrain estimate at 8x8: 8 steps, \d+\.\d s CPU", last), last
    assert set(json.loads(figures.read_text())["sizes"]["8"]) == {"forward_backward_ms", "adam_ms", "sgd_ms"}
