"""Whatever the sandbox sends on the protocol channel ends at worst that run, never the harness.

Runs a compromised worker (compromised_worker.py, bound in place of the real one) in real
sandboxes under both backends: deeply nested JSON, wrong types, unknown statuses, over-long
lines, invalid bytes, a flood of lines, and work after the last run. Each must end the run as a
`sandbox_violation` that names the protocol violation, with the supervisor alive and nothing left.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness.sandbox import run_submission
from harness.sandbox.layout import harness_package_dir
from hostile.support import HOSTILE, TEST_LIMITS, leftovers, require_backend, tiny_job

pytestmark = pytest.mark.slow
BACKENDS = ["bwrap", "docker"]
ATTACKS = {
    "deep_nesting": "nested too deeply",
    "status_is_a_list": "'status' is a list",
    "index_is_a_bool": "'index' is True",
    "unknown_status": "status 'perfect'",
    "wrong_run": "for run 5 during run 0",
    "invalid_utf8": "not a JSON message",
    "overlong_line": "longer than the protocol allows",
    "flood": "a 'prepared' message where 'done' was due",
    "work_after_last_run": "kept working after its last run",
}


@pytest.fixture(scope="module")
def compromised_harness(tmp_path_factory) -> Path:
    """A copy of the harness package whose sandbox worker is compromised_worker.py."""
    root = tmp_path_factory.mktemp("compromised")
    copy = root / "harness"
    shutil.copytree(harness_package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(HOSTILE / "compromised_worker.py", copy / "sandbox" / "worker.py")
    return copy


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_line_ends_the_run_as_a_protocol_violation(backend, attack, compromised_harness, tmp_path, monkeypatch):
    require_backend(backend)
    from harness.sandbox.backends import bwrap, docker

    for module in (bwrap, docker):
        monkeypatch.setattr(module, "harness_package_dir", lambda: compromised_harness)
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "submission.py").write_text("def unlearn(net, retain, forget, val):\n    return net\n")
    (submission / "attack.txt").write_text(attack)
    job = tiny_job(tmp_path, [5, 6], budget=5.0)
    started = time.monotonic()
    outcomes = run_submission(submission, job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert [outcome.status for outcome in outcomes] == ["sandbox_violation", "not_run"], outcomes[0].message
    assert ATTACKS[attack] in outcomes[0].message, outcomes[0].message
    if attack != "work_after_last_run":
        assert outcomes[0].message.startswith("protocol violation: the sandbox sent ")
    # Stopped at once, not at the run's time limit (3 x 5 s + grace) or the worker's 60 s sleep.
    assert time.monotonic() - started < 60
    assert leftovers(tmp_path / "work") == []
