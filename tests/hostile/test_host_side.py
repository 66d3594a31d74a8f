"""What the harness does on the host for a submission: it never follows the submission's links,
and it works from a Python environment wherever that lives (a venv under /tmp included).

Both under bubblewrap and Docker; without either, skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox import run_submission
from harness.sandbox.submission_files import submission_sha256
from hostile.support import EXAMPLES, REPO, TEST_LIMITS, require_backend, tiny_job

pytestmark = pytest.mark.slow
BACKENDS = ["bwrap", "docker"]


@pytest.fixture()
def host_secrets():
    """A private host folder and file (outside /tmp, which every sandbox replaces with its own)."""
    secrets = Path(tempfile.mkdtemp(prefix="unlearn-harness-secrets-", dir="/var/tmp"))
    (secrets / "private").mkdir(mode=0o700)
    (secrets / "private" / "key").write_text("not for participants")
    os.chmod(secrets / "private", 0o700)
    yield secrets
    shutil.rmtree(secrets, ignore_errors=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("target", ["private", "private/key"], ids=["link-to-a-folder", "link-to-a-file"])
def test_a_link_out_of_the_submission_is_refused_and_nothing_on_the_host_changes(backend, target, host_secrets, tmp_path):
    require_backend(backend)
    submission = tmp_path / "submission"
    shutil.copytree(EXAMPLES / "forget_and_repair", submission)
    (submission / "notes").symlink_to(host_secrets / target)
    job = tiny_job(tmp_path, [1])
    with pytest.raises(HarnessError, match="is a link to .* outside the submission folder"):
        run_submission(submission, job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    with pytest.raises(HarnessError, match="outside the submission folder"):
        submission_sha256(submission)
    assert stat.S_IMODE((host_secrets / "private").stat().st_mode) == 0o700
    assert not (tmp_path / "work" / "job" / "submission").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_links_inside_the_submission_are_kept_as_links(backend, tmp_path):
    require_backend(backend)
    submission = tmp_path / "submission"
    shutil.copytree(EXAMPLES / "forget_and_repair", submission)
    (submission / "schedule_link.py").symlink_to("schedule.py")
    job = tiny_job(tmp_path, [1])
    (outcome,) = run_submission(submission, job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert outcome.status == "ok", outcome.message
    copied = tmp_path / "work" / "job" / "submission" / "schedule_link.py"
    assert copied.is_symlink() and os.readlink(copied) == "schedule.py"


@pytest.fixture(scope="module")
def venv_under_tmp():
    """A virtual environment made under /tmp, seeing this one's packages (through a .pth file)."""
    root = Path(tempfile.mkdtemp(prefix="unlearn-harness-venv-", dir="/tmp"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "this_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield venv
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_venv_under_tmp_is_visible_in_the_sandbox(backend, venv_under_tmp, tmp_path):
    require_backend(backend)
    script = f"""
import sys
from pathlib import Path
from harness.sandbox import run_submission
from hostile.support import HOSTILE, TEST_LIMITS, tiny_job
assert sys.prefix.startswith("/tmp/"), sys.prefix
job = tiny_job(Path({str(tmp_path)!r}), [1, 2])
outcomes = run_submission(HOSTILE / "alias.py", job, Path({str(tmp_path / "work")!r}), backend={backend!r},
                          limits=TEST_LIMITS, progress=False)
print([outcome.status for outcome in outcomes], [outcome.message for outcome in outcomes])
"""
    environment = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}")
    result = subprocess.run([str(venv_under_tmp / "bin" / "python"), "-c", script], capture_output=True, text=True,
                            env=environment, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['ok', 'ok']" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_submission_still_gets_a_score_json_saying_why(backend, host_secrets, quick_digits, tmp_path):
    """`run` never copies or runs it: every run fails as invalid_submission, with a one-line reason."""
    require_backend(backend)
    from harness.cli import main as cli

    submission = tmp_path / "submission"
    shutil.copytree(EXAMPLES / "forget_and_repair", submission)
    (submission / "notes").symlink_to(host_secrets / "private")
    out = tmp_path / "result"
    code = cli(["run", str(submission), "--competition", str(quick_digits), "--n-models", "2", "--phase", "public",
                "--sandbox", backend, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet",
                "--bootstrap", "0", "--no-report"])
    assert code == 1
    record = json.loads((out / "score.json").read_text())
    assert record["status"] == "failed" and record["failure"]["kind"] == "invalid_submission"
    assert "outside the submission folder" in record["failure"]["reason"] and "\n" not in record["failure"]["reason"]
    assert stat.S_IMODE((host_secrets / "private").stat().st_mode) == 0o700
    assert not list(out.glob("work/*/sandbox"))  # no sandbox was started
