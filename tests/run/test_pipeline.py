"""End to end: `unlearn-harness run/check/leaderboard` on digits with real sandboxes and real training.

The competition is the test suite's quick digits (tests/competitions/digits-quick.toml: a 4-epoch
recipe and a cutoff of 100 retrains), so no test here depends on how fast the machine is; the
submissions do bounded work whatever their budget. The retrain pool is built once per test
session in a temporary cache and shared by every test (as it is shared by every submission in
real use).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main as cli
from locations import PIPELINE_SUBMISSIONS, QUICK_COMPETITION, QUICK_NAME, REPO

# Budget-aware baselines whose work is bounded (5 epochs): a large cutoff cannot make them slow.
FINETUNE = REPO / "baselines" / "finetune_starting_kit.py"
RANDOM_LABELS = REPO / "baselines" / "random_labels.py"
# Deterministic (fixed steps): a resumed run must reproduce an uninterrupted one exactly.
FIXED = PIPELINE_SUBMISSIONS / "fixed_steps_finetune.py"
N_MODELS = 4
# Fields whose values depend only on the submission, the seeds and the data: a resumed run must match.
DETERMINISTIC_FIELDS = (
    "status", "score", "forget_quality", "retain_acc_unlearned", "retain_acc_retrained", "test_acc_unlearned",
    "test_acc_retrained", "forget_acc_unlearned", "forget_acc_retrained", "n_models", "competition",
    "submission_sha256",
)


def _require_bwrap() -> None:
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "true"], capture_output=True)
    if probe.returncode != 0:
        message = f"bubblewrap is not usable here: {probe.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pool-cache")


def _run_args(submission: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["run", str(submission), "--competition", str(QUICK_COMPETITION), "--n-models", str(N_MODELS), "--out", str(out),
            "--cache-dir", str(cache), "--sandbox", "bwrap", "--jobs", "2", "--quiet", "--bootstrap", "20", *extra]


# The organizers' cutoff for the main run: overrides the competition's 100 (and cannot be missed).
CUTOFF = 50.0


@pytest.fixture(scope="session")
def finetune_result(cache_dir, tmp_path_factory) -> Path:
    _require_bwrap()
    out = tmp_path_factory.mktemp("finetune") / "result"
    assert cli(_run_args(FINETUNE, out, cache_dir, "--time-cutoff", str(CUTOFF))) == 0
    return out


def test_run_writes_the_output_contract(finetune_result: Path):
    record = json.loads((finetune_result / "score.json").read_text())
    assert record["status"] == "scored"
    assert 0 < record["score"] <= 2
    for key in ("retain_acc_unlearned", "test_acc_unlearned", "forget_acc_unlearned", "retain_acc_retrained"):
        assert 0 <= record[key] <= 1
    assert record["n_models"] == N_MODELS
    assert record["time_fraction"] == pytest.approx(
        record["unlearn_seconds_per_model"] / record["retrain_seconds_per_model"])
    assert record["time_cutoff"] == CUTOFF
    assert record["failure"] is None
    assert (finetune_result / "outputs.parquet").stat().st_size > 0
    assert "<img" in (finetune_result / "report.html").read_text()
    assert len(list((finetune_result / "logs" / "public").glob("run-*.log"))) == N_MODELS
    # The competition declares a private phase too: scored into its own folder.
    private = json.loads((finetune_result / "phases" / "private" / "score.json").read_text())
    assert private["phase"] == "private" and private["status"] == "scored"


def test_the_cutoff_and_the_reference_timing_set_the_budget_and_travel_with_the_outputs(finetune_result: Path, cache_dir: Path):
    from harness.results.outputs import read_outputs

    record = json.loads((finetune_result / "score.json").read_text())
    [timing_file] = cache_dir.glob(f"pools/{QUICK_NAME}.public.*/timings/*.json")
    reference = json.loads(timing_file.read_text())
    # The sandbox's budgets: the cutoff in force times the reference retrain, on each clock.
    [job_file] = finetune_result.glob("work/public/sandbox/chunk-000/job/job.json")
    job = json.loads(job_file.read_text())
    assert job["per_run_budget_seconds"] == pytest.approx(CUTOFF * reference["wall_seconds"])
    assert job["per_run_cpu_budget_seconds"] == pytest.approx(CUTOFF * reference["cpu_seconds"])
    metadata = read_outputs(finetune_result).metadata
    assert metadata.time_cutoff == CUTOFF and metadata.time_basis in ("cpu", "wall")
    assert metadata.retrain_wall_seconds_per_model == reference["wall_seconds"]
    assert metadata.retrain_cpu_seconds_per_model == reference["cpu_seconds"]
    assert metadata.retrain_seconds_per_model == reference[f"{metadata.time_basis}_seconds"]
    assert record["time_basis"] == metadata.time_basis and record["retrain_wall_seconds_per_model"] == reference["wall_seconds"]
    assert record["unlearn_wall_seconds_per_model"] > 0
    if metadata.time_basis == "wall":  # this sandbox does not account CPU time: the outputs say so
        assert record["time_note"] == "no cgroup CPU accounting for this sandbox: wall time charged"
    outputs = read_outputs(finetune_result)
    unlearned = outputs.kind == "unlearned"
    assert (outputs.wall_seconds[unlearned] > 0).all() and (outputs.seconds[unlearned] > 0).all()


def test_a_bad_time_cutoff_is_a_usage_error_before_any_work(tmp_path: Path, capsys):
    for bad in ("0", "-1", "nan", "inf"):
        assert cli(["run", str(FINETUNE), "--competition", str(QUICK_COMPETITION), "--time-cutoff", bad,
                    "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]) == 2
        err = capsys.readouterr().err.strip()
        assert "--time-cutoff must be a positive, finite fraction of one retrain" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_stored_outputs_rescore_to_the_same_figures(finetune_result: Path, capsys):
    record = json.loads((finetune_result / "score.json").read_text())
    assert cli(["score", str(finetune_result / "outputs.parquet"), "--json"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    for key in ("score", "forget_quality", "retain_acc_unlearned", "test_acc_retrained"):
        assert rescored[key] == pytest.approx(record[key], abs=1e-12)


@pytest.fixture(scope="session")
def fixed_reference(cache_dir, tmp_path_factory) -> dict:
    """score.json of an uninterrupted run of the deterministic submission (local processes)."""
    _require_bwrap()
    out = tmp_path_factory.mktemp("fixed") / "uninterrupted"
    assert cli(_run_args(FIXED, out, cache_dir, "--phase", "public")) == 0
    return json.loads((out / "score.json").read_text())


def test_killed_run_resumes_to_the_same_figures(fixed_reference: dict, cache_dir: Path, tmp_path: Path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "harness.cli", *_run_args(FIXED, out, cache_dir, "--phase", "public")]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill once the first unlearned models exist but before the run can finish.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if list((out / "work").glob("public/sandbox/*/results/seed-*.safetensors")):
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "score.json").exists(), "the run finished before it could be killed"
    assert cli(_run_args(FIXED, out, cache_dir, "--phase", "public")) == 0
    resumed = json.loads((out / "score.json").read_text())
    for key in DETERMINISTIC_FIELDS:
        assert resumed[key] == fixed_reference[key], key


def test_ray_backend_gives_the_same_figures(fixed_reference: dict, cache_dir: Path, tmp_path: Path):
    pytest.importorskip("ray", reason="Ray is optional (pip install 'unlearning-harness[ray]')")
    out = tmp_path / "ray"
    assert cli(_run_args(FIXED, out, cache_dir, "--phase", "public", "--backend", "ray")) == 0
    through_ray = json.loads((out / "score.json").read_text())
    for key in DETERMINISTIC_FIELDS:
        assert through_ray[key] == fixed_reference[key], key


def test_check_passes_a_valid_submission(cache_dir: Path, capsys):
    _require_bwrap()
    code = cli(["check", str(FINETUNE), "--competition", str(QUICK_COMPETITION), "--cache-dir", str(cache_dir),
                "--sandbox", "bwrap", "--quiet"])
    assert code == 0
    assert capsys.readouterr().out.startswith("PASS")


def test_check_fails_a_raising_submission_with_the_reason(cache_dir: Path, tmp_path: Path, capsys):
    _require_bwrap()
    broken = tmp_path / "broken.py"
    broken.write_text("def unlearn(net, retain, forget, val):\n    raise RuntimeError('deliberate failure')\n")
    code = cli(["check", str(broken), "--competition", str(QUICK_COMPETITION), "--cache-dir", str(cache_dir),
                "--sandbox", "bwrap", "--quiet"])
    assert code == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "exception" in out and "deliberate failure" in out


def test_leaderboard_ranks_two_baselines_scored_through_dask(finetune_result: Path, cache_dir: Path, tmp_path: Path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "random_labels"
    # The same cutoff as the run it is ranked with: a leaderboard refuses results judged on different ones.
    code = cli(_run_args(RANDOM_LABELS, out, cache_dir, "--backend", "dask", "--phase", "public", "--time-cutoff", str(CUTOFF)))
    assert code in (0, 1)
    board = tmp_path / "board"
    assert cli(["leaderboard", str(finetune_result), str(out), "--out", str(board), "--bootstrap", "20"]) == 0
    with open(board / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["rank"] for row in rows] == ["1", "2"]
    assert {"rank", "submission", "status", "score", "score_low", "score_high", "forget_quality",
            "retain_acc_ratio", "test_acc_ratio", "time_fraction"} <= set(rows[0])
    assert {row["submission"] for row in rows} == {"finetune_starting_kit", "random_labels"}


def test_usage_errors_exit_2_with_one_line(capsys):
    assert cli(["run", str(FINETUNE), "--competition", "no-such-competition"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-competition" in err and len(err.splitlines()) == 1


def _reproduce_args(out: Path, cache: Path, *only: str) -> list[str]:
    selection = [arg for name in only for arg in ("--only", name)]
    return ["reproduce", "--competition", str(QUICK_COMPETITION), "--n-models", str(N_MODELS), "--out", str(out), "--cache-dir", str(cache),
            "--sandbox", "bwrap", "--jobs", "2", "--quiet", "--bootstrap", "20", "--phase", "public", *selection]


def test_reproduce_scores_baselines_into_a_leaderboard_and_resumes(cache_dir: Path, tmp_path: Path, capsys):
    _require_bwrap()
    out = tmp_path / "baselines"
    assert cli(_reproduce_args(out, cache_dir, "finetune_starting_kit", "random_labels")) == 0
    with open(out / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["submission"] for row in rows} == {"finetune_starting_kit", "random_labels"}
    assert [row["rank"] for row in rows] == ["1", "2"] and float(rows[0]["score"]) >= float(rows[1]["score"])
    markdown = capsys.readouterr().out
    assert "| rank |" in markdown and "random_labels" in markdown
    # Re-running resumes: no unlearning run or evaluation is done again, and the figures are the same.
    def finished_work() -> dict[str, int]:
        files = [*out.glob("*/work/public/sandbox/*/results/seed-*.safetensors"), *out.glob("*/work/public/evaluations/*.json")]
        return {str(path): path.stat().st_mtime_ns for path in files}

    before = finished_work()
    assert len(before) == 2 * 2 * N_MODELS
    assert cli(_reproduce_args(out, cache_dir, "finetune_starting_kit", "random_labels")) == 0
    assert finished_work() == before
    with open(out / "leaderboard.csv") as handle:
        assert [row["score"] for row in csv.DictReader(handle)] == [row["score"] for row in rows]


def test_reproduce_names_the_baselines_when_one_is_unknown(tmp_path: Path, capsys):
    assert cli(_reproduce_args(tmp_path, tmp_path, "no_such_baseline")) == 2
    err = capsys.readouterr().err
    assert "no_such_baseline" in err and "finetune_starting_kit" in err
    assert "svd_class_unlearning" not in err  # class unlearning only: not offered on digits
