"""The charged time of a run does not move with machine load (a test about time: it compares
ratios measured in the same test, never absolute speeds).

A fixed-work submission (the same number of SGD steps whatever its budget) runs in a real sandbox
on a quiet machine and again beside two busy processes on every core. Wall time grows with the
load; the CPU time the supervisor charges must stay within 1.3x.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.sandbox import mean_run_seconds, run_submission
from hostile.support import REPO, TEST_LIMITS, require_backend, tiny_job

pytestmark = pytest.mark.slow
FIXED_WORK = REPO / "tests" / "pipeline_submissions" / "fixed_work.py"
BUSY_PROCESSES = 2


def _charged(backend: str, folder, seeds) -> tuple[float, float, set[str]]:
    job = tiny_job(folder, seeds, budget=60.0)
    outcomes = run_submission(FIXED_WORK, job, folder / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert all(outcome.status == "ok" for outcome in outcomes), [outcome.message for outcome in outcomes]
    walls = [outcome.wall_seconds for outcome in outcomes]
    return mean_run_seconds(outcomes), sum(walls) / len(walls), {outcome.time_basis for outcome in outcomes}


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_machine_load_does_not_change_the_charged_time(backend, tmp_path):
    require_backend(backend)
    quiet, quiet_wall, basis = _charged(backend, tmp_path / "quiet", [1, 2, 3, 4])
    assert basis == {"cpu"}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY_PROCESSES)]
    try:
        loaded, loaded_wall, basis = _charged(backend, tmp_path / "loaded", [1, 2, 3, 4])
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert basis == {"cpu"}
    ratio = max(quiet, loaded) / min(quiet, loaded)
    print(f"{backend}: CPU quiet {quiet:.3f} s, loaded {loaded:.3f} s; wall quiet {quiet_wall:.3f} s, loaded {loaded_wall:.3f} s")
    assert ratio <= 1.3, f"CPU time charged: quiet {quiet:.3f} s, loaded {loaded:.3f} s (wall {quiet_wall:.3f} s, {loaded_wall:.3f} s)"


def test_check_and_run_charge_a_fixed_work_submission_the_same(tmp_path):
    """`check` (N = 2) and `run` (N = 4) share the pool's reference, measured once whatever N."""
    require_backend("bwrap")
    from harness.cli import main as cli
    from locations import QUICK_COMPETITION

    common = ["--competition", str(QUICK_COMPETITION), "--cache-dir", str(tmp_path / "cache"), "--sandbox", "bwrap",
              "--quiet", "--jobs", "2"]
    assert cli(["check", str(FIXED_WORK), "--out", str(tmp_path / "check"), *common]) == 0  # the first phase: public
    assert cli(["run", str(FIXED_WORK), "--n-models", "4", "--phase", "public", "--out", str(tmp_path / "run"),
                "--bootstrap", "0", "--no-report", *common]) == 0
    checked, ran = (json.loads((tmp_path / folder / "score.json").read_text()) for folder in ("check", "run"))
    assert checked["time_basis"] == ran["time_basis"] == "cpu"
    assert checked["retrain_seconds_per_model"] == ran["retrain_seconds_per_model"]  # the same reference
    ratio = max(checked["time_fraction"], ran["time_fraction"]) / min(checked["time_fraction"], ran["time_fraction"])
    assert ratio <= 1.3, (checked["time_fraction"], ran["time_fraction"])
