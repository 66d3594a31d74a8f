"""run_submission end to end: contract, resume, stopping, time accounting, the unisolated backend.

These run the real worker in a subprocess. Most use the `none` backend (no isolation needed to
check the runner's own logic); test_sandbox_hostile.py covers isolation under docker and bwrap.
"""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.sandbox import run_submission
from hostile.support import EXAMPLES, HOSTILE, REPO, TEST_LIMITS, changed_from_original, planned_submission, tiny_job

pytestmark = pytest.mark.slow
FORGER_SLEEP_SECONDS = 1.5  # hostile/forger.py sleeps this long after forging its completions


def _run(submission, job, work, **options):
    options = {"backend": "none", "limits": TEST_LIMITS, "progress": False, **options}
    return run_submission(submission, job, work, **options)


@pytest.fixture(scope="module")
def first_call(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    job = tiny_job(root, [21, 22])
    return root, job, _run(HOSTILE / "alias.py", job, root / "work")


def test_the_unisolated_backend_says_so_everywhere(first_call, capfd):
    root, job, outcomes = first_call
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"]
    assert all(outcome.backend == "none" and not outcome.isolated for outcome in outcomes)
    assert all("NOT ISOLATED" in outcome.log_path.read_text() for outcome in outcomes)
    with pytest.raises(HarnessError, match="--sandbox none is not allowed by this competition"):
        _run(HOSTILE / "alias.py", job, root / "other", allow_unsandboxed=False)


def test_a_second_call_runs_only_the_seeds_without_results(first_call):
    root, job, outcomes = first_call
    stored = {outcome.seed: outcome.weights_path.stat().st_mtime_ns for outcome in outcomes}
    job.seeds = [21, 22, 23]
    again = _run(HOSTILE / "alias.py", job, root / "work")
    assert [outcome.seed for outcome in again] == [21, 22, 23] and [outcome.index for outcome in again] == [0, 1, 2]
    assert all(outcome.status == "ok" for outcome in again)
    assert {seed: again[i].weights_path.stat().st_mtime_ns for i, seed in enumerate([21, 22])} == stored
    assert len(list((root / "work" / "logs").glob("session-*.log"))) == 2  # one new sandbox, for seed 23 only
    # A different submission may not reuse this folder's results.
    with pytest.raises(HarnessError, match="holds results of another job or submission"):
        _run(EXAMPLES / "finetune.py", job, root / "work")


def test_the_first_failure_stops_the_job_and_is_remembered(tmp_path):
    submission = planned_submission("contained", tmp_path / "submission", {0: "in_place", 1: "raise_error", 2: "in_place"})
    job = tiny_job(tmp_path, [0, 1, 2])
    outcomes = _run(submission, job, tmp_path / "work")
    assert [outcome.status for outcome in outcomes] == ["ok", "exception", "not_run"]
    assert outcomes[2].message == "not run: seed 1 failed with exception" and outcomes[2].seconds is None
    # Calling again does not retry: the stored failure already decides the job.
    again = _run(submission, job, tmp_path / "work")
    assert [outcome.status for outcome in again] == ["ok", "exception", "not_run"]
    assert len(list((tmp_path / "work" / "logs").glob("session-*.log"))) == 1


@pytest.mark.parametrize(
    "submission, status, words",
    [
        ("import_error.py", "import_error", "module 'a_module_that_does_not_exist' is not in the environment of competition 'tiny'"),
        ("missing_function.py", "missing_function", "defines no function unlearn(net, retain, forget, val)"),
    ],
)
def test_broken_submissions_are_classified_once_for_every_seed(tmp_path, submission, status, words):
    job = tiny_job(tmp_path, [1, 2])
    outcomes = _run(HOSTILE / submission, job, tmp_path / "work", stop_on_failure=False)
    assert [outcome.status for outcome in outcomes] == [status, status]
    assert words in outcomes[0].message


def test_kaggle_notebook_style_runs_on_dict_batches(tmp_path):
    job = tiny_job(tmp_path, [3], batch_format="kaggle_dict")
    (outcome,) = _run(REPO / "submissions" / "examples" / "kaggle_notebook_style.py", job, tmp_path / "work")
    assert outcome.status == "ok", outcome.message
    assert changed_from_original(outcome.weights_path, job)


def test_a_forged_completion_reaches_no_one_and_each_run_is_charged_its_own_time(tmp_path):
    job = tiny_job(tmp_path, [0, 1])
    outcomes = _run(HOSTILE / "forger.py", job, tmp_path / "work")
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"]
    # Every run forges a completion on every pipe it holds, then sleeps: the worker's channel is
    # not among them, so each run ends when it really ends, sleep included (wall time here: the
    # `none` backend has no cgroup that accounts CPU time, and says so).
    assert all(outcome.seconds >= FORGER_SLEEP_SECONDS for outcome in outcomes)
    assert all(outcome.time_basis == "wall" and outcome.wall_seconds == outcome.seconds for outcome in outcomes)
    stored = [json.loads((tmp_path / "work" / "results" / f"seed-{seed}.json").read_text())["seconds"] for seed in job.seeds]
    assert min(stored) >= FORGER_SLEEP_SECONDS


def test_a_function_with_the_wrong_signature_is_a_contract_error_that_shows_it(tmp_path):
    submission = tmp_path / "wrong_signature.py"
    submission.write_text("def unlearning(net, retain_loader, forget_loader):\n    return net\n")
    outcomes = _run(submission, tiny_job(tmp_path, [1, 2]), tmp_path / "work")
    assert [outcome.status for outcome in outcomes] == ["contract_error", "not_run"]
    assert "unlearning(net, retain_loader, forget_loader)" in outcomes[0].message
    assert "unlearn(net, retain, forget, val)" in outcomes[0].message


def test_an_ordinary_exception_leaves_a_log_that_ends_normally(tmp_path):
    submission = tmp_path / "raising.py"
    submission.write_text("def unlearn(net, retain, forget, val):\n    raise ValueError('deliberate')\n")
    (outcome, _) = _run(submission, tiny_job(tmp_path, [1, 2]), tmp_path / "work")
    assert outcome.status == "exception"
    assert outcome.message.startswith("Traceback") and 'raising.py", line 2, in unlearn' in outcome.message
    assert "run_process.py" not in outcome.message  # the participant's frames only
    log = outcome.log_path.read_text().strip().splitlines()
    assert "ValueError: deliberate" in "\n".join(log) and "SIGKILL" not in log[-1], log[-3:]
