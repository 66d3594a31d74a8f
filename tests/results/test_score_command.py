"""score.json from stored outputs (harness.results.score) and `unlearn-harness score`.

Outputs are synthetic (tests/results/test_outputs.py): Gaussian confidences, with a known shift on a
few forget examples where a test needs a submission that forgets badly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scoring
from harness.cli import main as cli
from harness.errors import DataError
from harness.results.outputs import write_outputs
from harness.results.score import ScoringOptions, retrained_fingerprint, score_outputs
from harness.results.score_json import read_score_json, write_score_json
from test_outputs import FAST_SCORING, as_written_before_the_time_basis, synthetic_outputs
from locations import REPO

# The fields DESIGN.md ("Outputs of a run") promises in every score.json.
CONTRACT_FIELDS = {
    "status", "score", "forget_quality", "retain_acc_unlearned", "retain_acc_retrained", "test_acc_unlearned",
    "test_acc_retrained", "forget_acc_unlearned", "forget_acc_retrained", "n_models", "unlearn_seconds_per_model",
    "retrain_seconds_per_model", "time_fraction", "time_cutoff", "failure", "competition", "submission_sha256",
    "harness_version", "environment", "phase", "phases", "sandbox", "delta", "started_at", "finished_at",
    "submission", "score_low", "score_high",
}


# --- the record ------------------------------------------------------------------------------------
def test_a_scored_run_follows_the_official_rule():
    outputs = synthetic_outputs()
    record = score_outputs(outputs, FAST_SCORING).record
    assert CONTRACT_FIELDS <= set(record)
    assert record["status"] == "scored" and record["failure"] is None
    U, R = outputs.confidences("unlearned"), outputs.confidences("retrained")
    assert record["forget_quality"] == pytest.approx(scoring.forget_score(U, R))
    expected = scoring.final_score(
        record["forget_quality"],
        outputs.column("retain_acc", "unlearned").mean(), outputs.column("retain_acc", "retrained").mean(),
        outputs.column("test_acc", "unlearned").mean(), outputs.column("test_acc", "retrained").mean(),
    )
    assert record["score"] == pytest.approx(expected)
    assert record["score_low"] <= record["score"] <= record["score_high"]
    assert record["time_fraction"] == pytest.approx(0.05)
    for key in ("retain_acc_unlearned", "test_acc_unlearned", "forget_acc_unlearned", "retain_acc_retrained"):
        assert 0 <= record[key] <= 1
    assert record["submission"] == {"path": "/submissions/synthetic.py", "name": "synthetic"}
    assert record["sandbox"] == {"backend": "bwrap", "isolated": True}
    assert record["environment"]["numpy"] == np.__version__


def test_epsilon_buckets_account_for_every_example():
    result = score_outputs(synthetic_outputs(n_examples=40, leak=4.0, n_leaky=6), FAST_SCORING)
    summary = result.record["epsilon"]
    counted = sum(bucket["examples"] for bucket in summary["buckets"]) + summary["examples_without_points"]
    assert counted == 40
    # Points recomputed from the buckets give F back: the table and the metric agree.
    points = sum(b["examples"] * b["points"] for b in summary["buckets"]) / 40
    assert points == pytest.approx(result.record["forget_quality"])
    # The shifted examples are the worst ones.
    worst = {example["id"] for example in summary["worst_examples"][:6]}
    assert worst == {f"synthetic-{i:05d}" for i in range(6)}


def test_leaking_more_scores_lower():
    clean = score_outputs(synthetic_outputs(), ScoringOptions(bootstrap=0, calibration_splits=0)).record
    leaky = score_outputs(synthetic_outputs(leak=5.0, n_leaky=20), ScoringOptions(bootstrap=0, calibration_splits=0)).record
    assert leaky["forget_quality"] < clean["forget_quality"]
    assert leaky["score"] < clean["score"]


def test_over_time_reports_both_times_and_no_score():
    record = score_outputs(synthetic_outputs(unlearn_seconds=2.0), FAST_SCORING).record
    assert record["status"] == "over_time"
    assert record["score"] is None and record["score_low"] is None
    assert record["unlearn_seconds_per_model"] == 2.0 and record["retrain_seconds_per_model"] == 10.0
    assert record["time_fraction"] == pytest.approx(0.2)
    assert record["failure"]["kind"] == "over_time" and "20.0%" in record["failure"]["message"]
    # Forgetting is still measured, for the submission's author.
    assert record["forget_quality"] is not None


# --- the verdict on two clocks ---------------------------------------------------------------------
_NO_EXTRAS = ScoringOptions(bootstrap=0, calibration_splits=0)


def test_cpu_time_is_judged_against_the_reference_cpu_time_with_wall_time_beside_it():
    # A loaded machine: 2.5 s of wall time per run (25% of a 10 s wall retrain) but 0.5 CPU s
    # (5% of a 10 CPU s retrain). Charged in CPU time, the run is within the 10% cutoff.
    outputs = synthetic_outputs(time_basis="cpu", unlearn_seconds=0.5, retrain_seconds=10.0,
                                unlearn_wall_seconds=2.5, retrain_wall_seconds=10.0)
    record = score_outputs(outputs, _NO_EXTRAS).record
    assert record["status"] == "scored" and record["time_basis"] == "cpu" and record["time_note"] is None
    assert record["time_fraction"] == pytest.approx(0.05)
    assert record["unlearn_wall_seconds_per_model"] == 2.5 and record["retrain_wall_seconds_per_model"] == 10.0


def test_cpu_time_over_the_cutoff_is_over_time_whatever_the_wall_clock_says():
    outputs = synthetic_outputs(time_basis="cpu", unlearn_seconds=1.5, retrain_seconds=10.0,
                                unlearn_wall_seconds=0.2, retrain_wall_seconds=10.0)
    record = score_outputs(outputs, _NO_EXTRAS).record
    assert record["status"] == "over_time" and record["time_fraction"] == pytest.approx(0.15)
    assert "1.5 s of CPU time per model, 15.0% of a 10 s retrain; the limit is 10%" in record["failure"]["message"]


def test_a_wall_time_fallback_carries_its_note_into_score_json():
    note = "no cgroup CPU accounting for this sandbox: wall time charged"
    record = score_outputs(synthetic_outputs(time_note=note), _NO_EXTRAS).record
    assert record["time_basis"] == "wall" and record["time_note"] == note
    assert record["unlearn_wall_seconds_per_model"] == record["unlearn_seconds_per_model"] == 0.5


def test_a_cutoff_above_one_retrain_is_judged_as_given():
    record = score_outputs(synthetic_outputs(unlearn_seconds=15.0, time_cutoff=2.0), _NO_EXTRAS).record
    assert record["status"] == "scored" and record["time_cutoff"] == 2.0 and record["time_fraction"] == 1.5


def test_outputs_from_before_the_time_basis_score_on_the_wall_clock(tmp_path: Path, capsys):
    path = as_written_before_the_time_basis(write_outputs(tmp_path / "outputs.parquet", synthetic_outputs()))
    assert cli(["score", str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "scored" and record["time_basis"] == "wall" and record["time_fraction"] == pytest.approx(0.05)
    assert record["unlearn_wall_seconds_per_model"] == 0.5 and record["retrain_wall_seconds_per_model"] == 10.0


def test_a_submission_level_failure_is_recorded_with_its_class():
    failure = {"kind": "import_error", "message": "No module named 'sklearn2'"}
    record = score_outputs(synthetic_outputs(failure=failure), FAST_SCORING).record
    assert record["status"] == "failed" and record["score"] is None and record["forget_quality"] is None
    assert record["failure"] == {**failure, "reason": "import_error: No module named 'sklearn2'"}


def test_every_failure_has_a_one_line_reason():
    traceback_failure = {"kind": "exception", "message": (
        "run 3 (seed 1000003): Traceback (most recent call last):\n  File \"/job/submission/x.py\", line 2, in unlearn\n"
        "KeyError: 'image'\nhint: this competition's batches are (images, labels) tuples")}
    record = score_outputs(synthetic_outputs(failure=traceback_failure), FAST_SCORING).record
    assert record["failure"]["reason"] == "exception: run 3 (seed 1000003): KeyError: 'image'"
    assert record["failure"]["message"] == traceback_failure["message"]  # the whole text is kept beside it
    over_time = score_outputs(synthetic_outputs(unlearn_seconds=2.0), FAST_SCORING).record["failure"]
    assert "\n" not in over_time["reason"] and over_time["reason"].startswith("over_time: unlearning took")
    assert record["retain_acc_retrained"] is not None and record["retain_acc_unlearned"] is None


def test_one_failed_model_fails_the_submission():
    record = score_outputs(synthetic_outputs(failed_models={2: "invalid_weights"}), FAST_SCORING).record
    assert record["status"] == "failed"
    assert record["failure"]["kind"] == "invalid_weights"
    assert record["failure"]["message"].startswith("1 of 12 unlearning runs failed; first: model 2")
    assert record["model_failures"][0]["status"] == "invalid_weights"


def test_models_killed_for_time_make_the_run_over_time():
    record = score_outputs(synthetic_outputs(failed_models={0: "timeout", 5: "timeout"}), FAST_SCORING).record
    assert record["status"] == "over_time" and record["score"] is None


def test_a_broken_retrain_pool_is_a_data_error_not_a_verdict():
    outputs = synthetic_outputs(n_models=3)
    outputs.status[outputs.kind == "retrained"] = np.array(["exception", "ok", "ok"], dtype=object)
    with pytest.raises(DataError, match="retrained model 0 has status 'exception'.*unlearn-harness pool"):
        score_outputs(outputs)


def test_bootstrap_is_reproducible_and_paired_through_the_pool():
    options = ScoringOptions(bootstrap=15, resample="examples", calibration_splits=0, seed=3)
    first = score_outputs(synthetic_outputs(seed=1), options)
    again = score_outputs(synthetic_outputs(seed=1), options)
    other_submission = score_outputs(synthetic_outputs(seed=2, leak=2.0, n_leaky=5), options)
    np.testing.assert_array_equal(first.bootstrap_samples, again.bootstrap_samples)
    assert first.record["bootstrap"]["samples"] == first.bootstrap_samples.tolist()
    assert first.record["retrained_fingerprint"] == other_submission.record["retrained_fingerprint"]
    assert retrained_fingerprint(synthetic_outputs(pool_seed=9)) != first.record["retrained_fingerprint"]


def test_extensions_appear_when_asked():
    record = score_outputs(synthetic_outputs(), ScoringOptions(bootstrap=0, calibration_splits=2, bounds=True)).record
    assert record["calibration"]["n_splits"] == 2 and record["calibration"]["n_models_per_half"] == 6
    assert 0 <= record["calibration"]["forget_quality"] <= 1 and len(record["calibration"]["samples"]) == 2
    bounds = record["epsilon_lower_bounds"]
    assert bounds["confidence"] == 0.95 and bounds["max"] <= record["epsilon"]["max"]
    assert record["score_low"] is None and "bootstrap" not in record


def test_score_json_is_strict_json_and_reads_back(tmp_path: Path):
    record = score_outputs(synthetic_outputs(), FAST_SCORING).record
    path = write_score_json(tmp_path / "score.json", record)

    def refuse(constant):
        raise AssertionError(f"{constant} in score.json")

    assert json.loads(path.read_text(), parse_constant=refuse) == record
    assert read_score_json(tmp_path) == record


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("{", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"status": "scored"}', "missing field"),
        ('{"status": "great", "score": 1, "competition": "c", "phase": "p", "phases": ["p"]}', "status 'great'"),
    ],
)
def test_bad_score_json_gets_a_clear_error(tmp_path: Path, content, message):
    if content is not None:
        (tmp_path / "score.json").write_text(content)
    with pytest.raises(DataError, match=message):
        read_score_json(tmp_path / "score.json")


# --- the command ---------------------------------------------------------------------------------
@pytest.fixture
def stored(tmp_path: Path) -> Path:
    return write_outputs(tmp_path / "outputs.parquet", synthetic_outputs(n_models=8, leak=3.0, n_leaky=4))


def test_score_prints_a_readable_summary(stored: Path, capsys):
    assert cli(["score", str(stored)]) == 0
    out = capsys.readouterr().out
    assert "status              scored" in out
    assert "score               0." in out and "retain accuracy" in out and "of a 10 s retrain (limit 10.0%), wall time" in out


def test_the_summary_names_the_clock_and_shows_wall_time_beside_cpu_time(tmp_path: Path, capsys):
    outputs = synthetic_outputs(time_basis="cpu", unlearn_seconds=0.5, unlearn_wall_seconds=0.8, retrain_wall_seconds=12.0)
    assert cli(["score", str(write_outputs(tmp_path / "outputs.parquet", outputs))]) == 0
    out = capsys.readouterr().out
    assert "0.5 s per model = 5.0% of a 10 s retrain (limit 10.0%), CPU time" in out
    assert "wall time           0.8 s per model, a retrain 12 s" in out


def test_score_json_flags_and_files(stored: Path, tmp_path: Path, capsys):
    arguments = ["score", str(stored.parent), "--json", "--bootstrap", "10", "--resample", "examples", "--bounds",
                 "--confidence", "0.9", "--calibration", "2", "--write-json", str(tmp_path / "re.json"),
                 "--report", str(tmp_path / "re.html")]
    assert cli(arguments) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["bootstrap"]["n_resamples"] == 10 and record["bootstrap"]["confidence"] == 0.9
    assert record["epsilon_lower_bounds"]["confidence"] == 0.9
    assert record["calibration"]["n_splits"] == 2
    assert read_score_json(tmp_path / "re.json")["score"] == record["score"]
    assert "data:image/png;base64," in (tmp_path / "re.html").read_text()


def test_model_subsets_rescore_at_a_smaller_n(stored: Path, capsys):
    assert cli(["score", str(stored), "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert cli(["score", str(stored), "--json", "--models", "4"]) == 0
    first_four = json.loads(capsys.readouterr().out)
    assert cli(["score", str(stored), "--json", "--model-subset", "0-2,3"]) == 0
    subset = json.loads(capsys.readouterr().out)
    assert first_four["n_models"] == subset["n_models"] == 4 and full["n_models"] == 8
    assert first_four["forget_quality"] == subset["forget_quality"]
    assert first_four["forget_quality"] != full["forget_quality"]
    assert cli(["score", str(stored), "--json", "--delta", "0.01"]) == 0
    assert json.loads(capsys.readouterr().out)["delta"] == 0.01


def test_an_unscored_run_exits_1(tmp_path: Path, capsys):
    path = write_outputs(tmp_path / "outputs.parquet", synthetic_outputs(unlearn_seconds=5.0))
    assert cli(["score", str(path)]) == 1
    out = capsys.readouterr().out
    assert "over_time" in out and "no score" not in out and "score               -" in out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--confidence", "0.9"], "--confidence applies to --bounds or --bootstrap"),
        (["--resample", "models"], "--resample applies to --bootstrap"),
        (["--models", "99"], "outputs hold 8"),
        (["--model-subset", "7-9"], "8, 9 are not in the outputs"),
        (["--delta", "2"], "delta must lie in (0, 1)"),
    ],
)
def test_bad_flags_exit_2_with_one_line(stored: Path, capsys, arguments, message):
    assert cli(["score", str(stored), *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_malformed_outputs_exit_2_naming_the_file(tmp_path: Path, capsys):
    bad = tmp_path / "outputs.parquet"
    bad.write_bytes(b"not parquet at all")
    assert cli(["score", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not a readable Parquet file" in err
    assert cli(["score", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_usage_errors_are_argparse_errors(stored: Path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli(["score", str(stored), "--models", "2", "--model-subset", "0-1"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        cli(["score", str(stored), "--model-subset", "3-1"])
    assert "not a valid range" in capsys.readouterr().err


def test_score_runs_where_torch_cannot_be_imported(stored: Path, tmp_path: Path):
    # torch is installed here, so a meta-path hook makes importing it fail, as on a machine without it.
    program = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from harness.cli import main
assert main(["score", {str(stored)!r}]) == 0  # the text summary too
code = main(["score", {str(stored)!r}, "--json", "--bootstrap", "5", "--calibration", "2",
             "--report", {str(tmp_path / "r.html")!r}])
assert "torch" not in sys.modules
sys.exit(code)
"""
    completed = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    summary, record = completed.stdout.split("\n{", 1)
    assert "status              scored" in summary and json.loads("{" + record)["status"] == "scored"
    assert (tmp_path / "r.html").stat().st_size > 10_000
