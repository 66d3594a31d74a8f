"""Hostile and benign submissions in real sandboxes, each case under both Docker and bwrap.

Every misbehaviour must end in the class submissions/README.md documents, with the harness alive,
no sandbox left behind, the host untouched, and the benign runs of the same job intact. Each run
is a fresh process, so every case short of overstaying its time limit shares one sandbox
(`contained`), the cases before a run test what survived of them; overstaying cases end the
sandbox and share one job whose sandbox is restarted after each (`fatal`, stop_on_failure=False).
Without Docker or bwrap these tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from harness.training.architectures import build_model
from harness.sandbox import load_returned_state_dict, run_submission
from hostile.support import (
    EXAMPLES,
    HOSTILE,
    REPO,
    TEST_LIMITS,
    changed_from_original,
    leftovers,
    planned_submission,
    require_backend,
    tiny_job,
)

pytestmark = pytest.mark.slow
BACKENDS = ["bwrap", "docker"]

# (behaviour, expected status), in run order; seeds are the positions.
CONTAINED = [
    ("in_place", "ok"),
    ("network_connect", "sandbox_violation"),
    ("network_dns", "sandbox_violation"),
    ("read_pool_cache", "sandbox_violation"),
    ("read_test_data", "sandbox_violation"),
    ("read_other_users_files", "sandbox_violation"),
    ("write_outside", "sandbox_violation"),
    ("overwrite_inputs", "sandbox_violation"),
    ("fork_bomb", "sandbox_violation"),
    ("allocate_memory", "out_of_memory"),
    ("raise_error", "exception"),
    ("call_sys_exit", "crashed"),
    ("kill_parent", "ok"),
    ("print_gigabytes", "ok"),
    ("wrong_architecture", "invalid_model"),
    ("nan_weights", "invalid_model"),
    ("not_a_module", "invalid_model"),
    ("pickle_instead_of_weights", "invalid_model"),
    ("exit_the_process", "crashed"),
    ("shared_memory_hog", "out_of_memory"),
    ("flood_output_folder", "sandbox_violation"),
    ("hide_output_in_unlinked_file", "sandbox_violation"),
    ("hide_output_too_deep", "sandbox_violation"),
    ("escape_to_the_worker", "sandbox_violation"),
    ("leave_state_behind", "ok"),
    ("find_state_left_behind", "ok"),
    ("rewrite_weights_after_return", "ok"),
    ("find_state_left_behind", "ok"),
    ("busy_every_core", "ok"),
    ("forbidden_system_calls", "sandbox_violation"),
    ("in_place", "ok"),
]
FATAL = [
    ("in_place", "ok"),
    ("infinite_loop", "timeout"),
    ("sleep_past_budget", "timeout"),
    ("freeze_clocks_then_sleep", "timeout"),
    ("in_place", "ok"),
]
FATAL_BUDGET = 0.5  # seconds: a run is stopped after 3 x 0.5 + 2 (grace) = 3.5 s


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _docker_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


@pytest.fixture(scope="module", params=BACKENDS)
def contained(request, tmp_path_factory):
    """Run the contained hostile job once per backend; yield what the tests check."""
    backend = request.param
    require_backend(backend)
    root = tmp_path_factory.mktemp(f"contained-{backend}")
    # Host secrets outside /tmp (the sandbox's /tmp is private, so a path there proves nothing).
    secrets = Path(tempfile.mkdtemp(prefix="unlearn-harness-secrets-", dir="/var/tmp"))
    try:
        (secrets / "pool").mkdir()
        (secrets / "pool" / "retrained-0.safetensors").write_bytes(b"retrained model: not for participants")
        targets = {
            "pool_dir": str(secrets / "pool"),
            "pool_file": str(secrets / "pool" / "retrained-0.safetensors"),
            "manifests_dir": str(REPO / "data_manifests"),
            "docker_socket": _docker_socket(),
            "escape_file": str(secrets / "escaped"),
            "pickle_marker": str(secrets / "unpickled"),
        }
        behaviours = {seed: name for seed, (name, _) in enumerate(CONTAINED)}
        submission = planned_submission("contained", root / "submission", behaviours, targets)
        job = tiny_job(root, list(behaviours), budget=10.0)
        work = root / "work"
        outcomes = run_submission(submission, job, work, backend=backend, limits=TEST_LIMITS, progress=False, stop_on_failure=False)
        yield {"backend": backend, "outcomes": outcomes, "job": job, "work": work, "secrets": secrets, "leftovers": leftovers(work)}
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


@pytest.mark.parametrize("position", range(len(CONTAINED)), ids=[f"{i:02d}-{name}" for i, (name, _) in enumerate(CONTAINED)])
def test_contained_behaviour_ends_in_its_class(contained, position):
    name, expected = CONTAINED[position]
    outcome = contained["outcomes"][position]
    assert (outcome.seed, outcome.index) == (position, position)
    assert outcome.status == expected, f"{name} under {contained['backend']}: {outcome.status}: {outcome.message}"
    assert outcome.backend == contained["backend"] and outcome.isolated
    assert outcome.seconds is not None and outcome.seconds >= 0
    assert outcome.log_path is not None and outcome.log_path.is_file()
    if expected == "ok":
        assert outcome.message is None
        load_returned_state_dict(outcome.weights_path, build_model("small_cnn", 10, 1))
        assert changed_from_original(outcome.weights_path, contained["job"])
    else:
        assert outcome.weights_path is None and outcome.message


def test_contained_failures_explain_themselves(contained):
    by_name = {name: outcome for (name, _), outcome in zip(CONTAINED, contained["outcomes"])}
    assert "ValueError: deliberate failure inside unlearn" in by_name["raise_error"].message
    assert "sys.exit(3)" in by_name["call_sys_exit"].message
    assert "Network is unreachable" in by_name["network_connect"].message
    assert any(reason in by_name["overwrite_inputs"].message for reason in ("Read-only file system", "Permission denied"))
    assert "architecture" in by_name["wrong_architecture"].message
    assert "NaN" in by_name["nan_weights"].message
    assert "dict" in by_name["not_a_module"].message
    assert "safetensors" in by_name["pickle_instead_of_weights"].message
    assert "exited with code 3" in by_name["exit_the_process"].message
    assert "ran out of memory" in by_name["shared_memory_hog"].message
    for name in ("flood_output_folder", "hide_output_in_unlinked_file", "hide_output_too_deep"):
        assert "No space left on device" in by_name[name].message, by_name[name].message
    assert "Permission denied" in by_name["escape_to_the_worker"].message
    assert "Operation not permitted" in by_name["forbidden_system_calls"].message
    # The leak detector never fired: every attempt to get out failed.
    assert not any("SandboxLeak" in (outcome.message or "") for outcome in contained["outcomes"])


def test_host_is_untouched(contained):
    job, work, secrets = contained["job"], contained["work"], contained["secrets"]
    assert not (secrets / "escaped").exists(), "the sandbox wrote outside its output folder"
    assert not (secrets / "unpickled").exists(), "returned bytes were unpickled on the trusted side"
    assert _sha256(work / "job" / "original.safetensors") == _sha256(job.original_weights)
    assert (work / "job" / "data.safetensors").is_file() and (work / "job" / "job.json").is_file()
    assert not list((REPO / "harness").glob("escaped*"))
    assert contained["leftovers"] == []


def test_weights_are_frozen_before_they_are_copied(contained):
    """A daemon rewrites the run's weights after the run's process ended, logging each version:
    the kept weights are the last version written (or the run's own when it was ended first)."""
    position = [name for name, _ in CONTAINED].index("rewrite_weights_after_return")
    outcome = contained["outcomes"][position]
    logged = [int(line.rsplit(" ", 1)[1]) for line in outcome.log_path.read_text().splitlines() if line.startswith("daemon wrote version ")]
    bias = load_returned_state_dict(outcome.weights_path, build_model("small_cnn", 10, 1))["fc.bias"]
    last = max(logged, default=0)
    if torch.all(bias == bias[0]) and float(bias[0]).is_integer() and bias[0] >= 1:
        assert int(bias[0]) in (last, last + 1), f"kept version {int(bias[0])}, but the daemon wrote up to {last}"
    else:
        assert last == 0, f"the run's own weights were kept, but the daemon wrote {last} versions before the copy"


def test_a_run_is_bound_to_its_share_of_the_cpus(contained):
    """Processes busy on every core for a second: one thread's allotment, one core's CPU time."""
    position = [name for name, _ in CONTAINED].index("busy_every_core")
    outcome = contained["outcomes"][position]
    assert outcome.time_basis == "cpu"
    assert outcome.seconds <= 1.15 * outcome.wall_seconds, (outcome.seconds, outcome.wall_seconds)


def test_printing_gigabytes_keeps_a_bounded_log(contained):
    position = [name for name, _ in CONTAINED].index("print_gigabytes")
    log = contained["outcomes"][position].log_path
    assert log.stat().st_size < TEST_LIMITS.log_head_bytes + TEST_LIMITS.log_tail_bytes + 4096
    text = log.read_text()
    assert "bytes of output omitted" in text and text.count("x" * 1023) > 10


@pytest.fixture(scope="module", params=BACKENDS)
def fatal(request, tmp_path_factory):
    backend = request.param
    require_backend(backend)
    root = tmp_path_factory.mktemp(f"fatal-{backend}")
    behaviours = {seed: name for seed, (name, _) in enumerate(FATAL)}
    submission = planned_submission("fatal", root / "submission", behaviours)
    job = tiny_job(root, list(behaviours), budget=FATAL_BUDGET)
    outcomes = run_submission(submission, job, root / "work", backend=backend, limits=TEST_LIMITS, progress=False, stop_on_failure=False)
    return {"backend": backend, "outcomes": outcomes, "job": job, "work": root / "work", "leftovers": leftovers(root / "work")}


@pytest.mark.parametrize("position", range(len(FATAL)), ids=[f"{i}-{name}" for i, (name, _) in enumerate(FATAL)])
def test_fatal_behaviour_ends_in_its_class(fatal, position):
    name, expected = FATAL[position]
    outcome = fatal["outcomes"][position]
    assert outcome.status == expected, f"{name} under {fatal['backend']}: {outcome.status}: {outcome.message}"
    if expected == "timeout":
        # Measured outside the sandbox: frozen clocks inside change nothing. Whichever clock ran
        # past its limit first stopped the run (a sleep uses no CPU time, a loop no less of it).
        limit = TEST_LIMITS.run_timeout_seconds(FATAL_BUDGET)
        assert outcome.wall_seconds >= limit or (outcome.time_basis == "cpu" and outcome.seconds >= limit)
        assert "stopped after" in outcome.message
    if expected == "ok":
        assert changed_from_original(outcome.weights_path, fatal["job"])


def test_every_fatal_case_got_a_fresh_sandbox_and_none_is_left(fatal):
    sessions = sorted((fatal["work"] / "logs").glob("session-*.log"))
    # The first sandbox ran the benign seed and was stopped on the next; each stop costs one restart.
    assert len(sessions) == 1 + sum(expected != "ok" for _, expected in FATAL)
    assert fatal["leftovers"] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slow_import_is_charged_to_the_run(backend, tmp_path):
    require_backend(backend)
    job = tiny_job(tmp_path, [7], budget=FATAL_BUDGET)
    (outcome,) = run_submission(HOSTILE / "slow_import.py", job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert outcome.status == "timeout", outcome.message
    assert outcome.wall_seconds >= TEST_LIMITS.run_timeout_seconds(FATAL_BUDGET)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("submission", [HOSTILE / "alias.py", EXAMPLES / "forget_and_repair"], ids=["unlearning-alias", "folder-with-helper"])
def test_benign_submissions_return_their_models(backend, submission, tmp_path):
    require_backend(backend)
    job = tiny_job(tmp_path, [11, 12])
    outcomes = run_submission(submission, job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"], [outcome.message for outcome in outcomes]
    first, second = (load_returned_state_dict(outcome.weights_path, build_model("small_cnn", 10, 1)) for outcome in outcomes)
    assert all(changed_from_original(outcome.weights_path, job) for outcome in outcomes)
    # Different seeds give different runs (data order, initial randomness).
    assert any(not torch.equal(first[key], second[key]) for key in first)
