"""2023 Kaggle notebooks (tests/kaggle_notebooks/) run unchanged in the bubblewrap sandbox on `digits-kaggle`.

Tests marked NEEDS_WORKER_WIRING cover what the sandbox worker must still wire in (the job carrying
ages and person ids, harness.sandbox.contract, harness.sandbox.import_policy, a writable
/kaggle/tmp): they are strict expected failures until then, so the wiring turns them into
unexpected passes, and the marker goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.competition import load_competition
from harness.datasets import load_data
from harness.models import build_model
from harness.sandbox import UnlearningJob, run_submission
from hostile.support import TEST_LIMITS, changed_from_original, require_backend, tiny_job

pytestmark = pytest.mark.slow
NOTEBOOKS = Path(__file__).resolve().parent / "kaggle_notebooks"
NEEDS_WORKER_WIRING = pytest.mark.xfail(strict=True, reason="needs the sandbox worker wiring of issue 14")


@pytest.fixture(scope="module")
def kaggle_job(tmp_path_factory) -> UnlearningJob:
    """digits-kaggle's real retain/forget/validation splits and a resnet18 original (untrained: only validity matters)."""
    require_backend("bwrap")
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


def _run(notebook: str, job: UnlearningJob, work: Path):
    return run_submission(NOTEBOOKS / notebook, job, work, backend="bwrap", limits=TEST_LIMITS, progress=False)


def _assert_ran(outcomes, job: UnlearningJob) -> None:
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"], [outcome.message for outcome in outcomes]
    assert all(changed_from_original(outcome.weights_path, job) for outcome in outcomes)


@pytest.mark.parametrize("notebook", ["organizers_template.py", "distillation_teacher.py", "loaders_as_2023.py"])
def test_2023_notebooks_run_unchanged(kaggle_job, tmp_path, notebook):
    _assert_ran(_run(notebook, kaggle_job, tmp_path / "work"), kaggle_job)


@NEEDS_WORKER_WIRING  # the job must carry Split.ages and Split.person_ids (Split.tensors / Split.from_tensors)
def test_a_notebook_reads_all_five_keys(kaggle_job, tmp_path):
    _assert_ran(_run("five_keys.py", kaggle_job, tmp_path / "work"), kaggle_job)


@NEEDS_WORKER_WIRING  # the worker must call the submission through contract.unlearn_call
def test_the_five_argument_form_gets_the_device(kaggle_job, tmp_path):
    _assert_ran(_run("five_arguments.py", kaggle_job, tmp_path / "work"), kaggle_job)


@NEEDS_WORKER_WIRING  # the sandbox must provide contract.KAGGLE_WRITABLE_DIRS, empty for every run
def test_a_notebook_writes_its_checkpoints_to_kaggle_tmp(kaggle_job, tmp_path):
    _assert_ran(_run("kaggle_tmp.py", kaggle_job, tmp_path / "work"), kaggle_job)


@NEEDS_WORKER_WIRING  # the worker must install import_policy with the competition's packages
def test_an_import_outside_the_environment_is_an_import_error_that_says_so(kaggle_job, tmp_path):
    outcomes = _run("outside_environment.py", kaggle_job, tmp_path / "work")
    assert outcomes[0].status == "import_error"
    assert "module 'requests' is not in the environment of competition 'digits-kaggle' (numpy, pandas," in outcomes[0].message


@NEEDS_WORKER_WIRING  # the worker must report failures with contract.describe_failure
def test_tuple_reading_of_dict_batches_is_explained(kaggle_job, tmp_path):
    outcomes = _run("tuple_reader.py", kaggle_job, tmp_path / "work")
    message = outcomes[0].message
    assert outcomes[0].status == "exception" and "values to unpack" in message
    assert "this competition's batches are the 2023 dict batches" in message and "served by competition 'digits'" in message
    assert message.startswith("Traceback") and "worker.py" not in message  # from the notebook's own frames down


@NEEDS_WORKER_WIRING  # the worker must report failures with contract.describe_failure
def test_a_dict_notebook_on_a_tuple_competition_names_digits_kaggle(tmp_path):
    require_backend("bwrap")
    job = tiny_job(tmp_path, [0])
    outcomes = run_submission(NOTEBOOKS / "organizers_template.py", job, tmp_path / "work", backend="bwrap", limits=TEST_LIMITS, progress=False)
    assert outcomes[0].status == "exception"
    assert "served by competition 'digits-kaggle'" in outcomes[0].message and "worker.py" not in outcomes[0].message
