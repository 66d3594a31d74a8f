"""benchmarks/gpu_suite.sh, dry-run at toy sizes on the CPU: every step runs and reports, so that the
suite works the first time it meets a GPU. Its figures say nothing (they belong in benchmarks/RESULTS.md,
measured on the GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from locations import BENCHMARKS

SUITE = BENCHMARKS / "gpu_suite.sh"

pytestmark = pytest.mark.slow


def test_the_gpu_suite_dry_run_runs_every_step_and_writes_its_figures(tmp_path: Path):
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "GPU_SUITE_DRY_RUN": "1", "PYTHON": sys.executable, "GPU_SUITE_WORK": str(work)}
    completed = subprocess.run(["bash", str(SUITE), str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    # What a device machine sends back: a few files, none deeper than OUT.
    assert sorted(path.name for path in out.iterdir()) == ["figures.json", "steps.log", "summary.md"]
    figures = json.loads((out / "figures.json").read_text())
    statuses = {name: step["status"] for name, step in figures["steps"].items()}
    failed = {name: status for name, status in statuses.items() if status not in ("ok", "skipped")}
    assert not failed, (failed, (out / "steps.log").read_text()[-4000:])
    assert {"throughput_resnet18", "throughput_resnet18_cifar", "pool_one_at_a_time", "pool_stacked", "run_finetune"} <= {
        name for name, status in statuses.items() if status == "ok"}
    assert {"sandbox_bwrap", "sandbox_docker"} <= set(statuses)  # checked, or skipped with the reason
    for architecture in ("resnet18", "resnet18_cifar"):
        throughput = figures["throughput"][architecture]
        assert throughput["n_models"] == 2 and throughput["stacked_models_per_hour"] > 0 and throughput["tflops_stacked"] > 0
    assert figures["pool_command"]["one_at_a_time"]["seconds"] > 0 and figures["pool_command"]["stacked"]["seconds"] > 0
    assert figures["run"]["n_models"] == 2 and figures["run"]["status"] in ("scored", "over_time")
    assert figures["dataset"] == "synthetic_cifar10_small" and figures["mode"] == "dry-run"
    summary = (out / "summary.md").read_text()
    assert "A DRY RUN" in summary and "| resnet18_cifar | 2 | 2 |" in summary
