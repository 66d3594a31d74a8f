"""2023 Kaggle notebooks (tests/kaggle_notebooks/) run unchanged on `digits-kaggle`, under both
bubblewrap and Docker: dict batches with all five keys, a DEVICE global, `copy.deepcopy(net)`,
their own optimizers and schedulers, /kaggle/tmp, the 5-argument signature, and the declared
environment (pandas in, anything else refused with a message naming the module).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.cli import main as cli
from harness.config import COMPETITIONS_DIR, load_competition
from harness.data import load_data
from harness.training.architectures import build_model
from harness.sandbox import UnlearningJob, run_submission
from hostile.support import TEST_LIMITS, changed_from_original, require_backend, tiny_job
from locations import KAGGLE_NOTEBOOKS

pytestmark = pytest.mark.slow
NOTEBOOKS = KAGGLE_NOTEBOOKS
BACKENDS = ["bwrap", "docker"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    require_backend(request.param)
    return request.param


@pytest.fixture(scope="module")
def kaggle_job(tmp_path_factory) -> UnlearningJob:
    """digits-kaggle's real retain/forget/validation splits and a resnet18 original (untrained: only validity matters)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("kaggle-job")
    competition = load_competition("digits-kaggle")
    data = load_data(competition, "public", cache_dir=folder / "cache")
    torch.manual_seed(0)
    weights = folder / "original.safetensors"
    save_file(build_model(competition.architecture, competition.num_classes, competition.in_channels).state_dict(), str(weights))
    return UnlearningJob(
        architecture=competition.architecture,
        num_classes=competition.num_classes,
        in_channels=competition.in_channels,
        original_weights=weights,
        retain=data.retain,
        forget=data.forget,
        val=data.val,
        batch_size=competition.batch_size,
        batch_format=competition.batch_format,
        seeds=[0, 1],
        competition=competition.name,
    )


def _run(notebook: str, job: UnlearningJob, work: Path, backend: str):
    return run_submission(NOTEBOOKS / notebook, job, work, backend=backend, limits=TEST_LIMITS, progress=False)


def _assert_ran(outcomes, job: UnlearningJob) -> None:
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"], [outcome.message for outcome in outcomes]
    assert all(changed_from_original(outcome.weights_path, job) for outcome in outcomes)


@pytest.mark.parametrize("notebook", ["organizers_template.py", "distillation_teacher.py", "loaders_as_2023.py"])
def test_2023_notebooks_run_unchanged(backend, kaggle_job, tmp_path, notebook):
    _assert_ran(_run(notebook, kaggle_job, tmp_path / "work", backend), kaggle_job)


def test_a_notebook_reads_all_five_keys(backend, kaggle_job, tmp_path):
    _assert_ran(_run("five_keys.py", kaggle_job, tmp_path / "work", backend), kaggle_job)


def test_the_five_argument_form_gets_the_device(backend, kaggle_job, tmp_path):
    _assert_ran(_run("five_arguments.py", kaggle_job, tmp_path / "work", backend), kaggle_job)


def test_a_notebook_writes_its_checkpoints_to_kaggle_tmp(backend, kaggle_job, tmp_path):
    _assert_ran(_run("kaggle_tmp.py", kaggle_job, tmp_path / "work", backend), kaggle_job)


def test_an_import_outside_the_environment_is_an_import_error_that_says_so(backend, kaggle_job, tmp_path):
    outcomes = _run("outside_environment.py", kaggle_job, tmp_path / "work", backend)
    assert outcomes[0].status == "import_error"
    assert "module 'requests' is not in the environment of competition 'digits-kaggle' (numpy, pandas," in outcomes[0].message


def test_tuple_reading_of_dict_batches_is_explained(backend, kaggle_job, tmp_path):
    outcomes = _run("tuple_reader.py", kaggle_job, tmp_path / "work", backend)
    message = outcomes[0].message
    assert outcomes[0].status == "exception" and "values to unpack" in message
    assert "this competition's batches are the 2023 dict batches" in message and "served by competition 'digits'" in message
    assert message.startswith("Traceback") and "worker.py" not in message  # from the notebook's own frames down


def test_a_dict_notebook_on_a_tuple_competition_names_digits_kaggle(backend, tmp_path):
    job = tiny_job(tmp_path, [0])
    outcomes = run_submission(NOTEBOOKS / "organizers_template.py", job, tmp_path / "work", backend=backend, limits=TEST_LIMITS, progress=False)
    assert outcomes[0].status == "exception"
    assert "served by competition 'digits-kaggle'" in outcomes[0].message and "worker.py" not in outcomes[0].message


@pytest.fixture(scope="module")
def quick_kaggle(tmp_path_factory) -> Path:
    """digits-kaggle with a 2-epoch recipe and a cutoff no test can miss (the shipped one trains 60)."""
    text = (COMPETITIONS_DIR / "digits-kaggle.toml").read_text()
    for old, new in (('name = "digits-kaggle"', 'name = "digits-kaggle-quick"'), ("epochs = 60", "epochs = 2"),
                     ("best_val_from_epoch = 40", "best_val_from_epoch = 1"), ("time_cutoff = 0.10", "time_cutoff = 100.0")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("quick-kaggle") / "digits-kaggle-quick.toml"
    path.write_text(text)
    return path


def test_a_2023_notebook_scores_on_the_kaggle_competition(backend, quick_kaggle, tmp_path_factory):
    """Dict batches, a DEVICE global, pandas, /kaggle/tmp: scored end to end through `run`."""
    cache = quick_kaggle.parent / "cache"  # one pool for both backends
    out = tmp_path_factory.mktemp(f"kaggle-run-{backend}")
    code = cli(["run", str(NOTEBOOKS / "template_with_checkpoint.py"), "--competition", str(quick_kaggle), "--n-models", "2",
                "--phase", "public", "--sandbox", backend, "--cache-dir", str(cache), "--out", str(out), "--jobs", "2",
                "--bootstrap", "0", "--no-report", "--quiet"])
    record = json.loads((out / "score.json").read_text())
    assert code == 0 and record["status"] == "scored", record["failure"]
    assert record["sandbox"]["backend"] == backend and record["score"] is not None
