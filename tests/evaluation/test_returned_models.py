"""Trusted evaluation of returned models: every model ends in a row, a broken one in a classified failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli import main as cli
from harness.config import load_competition
from harness.data import load_data
from harness.training.architectures import build_model
from harness.results.outputs import read_outputs
from harness.training.weights import save_weights
from harness.evaluation.returned import ReturnedModel, evaluate_returned_model
from harness.sandbox import RunOutcome
from locations import PIPELINE_SUBMISSIONS

NEGATIVE_VARIANCE = PIPELINE_SUBMISSIONS / "negative_variance.py"

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    competition = load_competition("digits")
    return competition, load_data(competition, "public")


def _returned(tmp_path: Path, competition, index: int, break_it=None) -> ReturnedModel:
    torch.manual_seed(index)
    model = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    if break_it:
        break_it(model)
    weights = tmp_path / f"seed-{index}.safetensors"
    save_weights(model, weights)
    outcome = RunOutcome(seed=1000 + index, index=index, status="ok", seconds=0.1, weights_path=weights)
    return ReturnedModel(outcome, competition, "public", "cpu", None, None, tmp_path / "evaluations")


def _negative_running_var(model) -> None:
    model.features[1].running_var.fill_(-1.0)  # finite, so the weights file itself is valid


def test_a_negative_running_var_is_an_invalid_model_with_a_one_line_reason(digits, tmp_path):
    competition, data = digits
    item = _returned(tmp_path, competition, 3, _negative_running_var)
    record = evaluate_returned_model(item, data)
    assert (record.kind, record.index, record.status) == ("unlearned", 3, "invalid_model")
    assert record.retain_acc is None and record.forget_confidences is None
    assert "\n" not in record.message
    assert "NaN or infinite" in record.message and "negative running_var in features.1.running_var (a variance must be >= 0)" in record.message
    # The verdict depends on the weights alone: stored, and a re-run reads it back.
    assert json.loads(item.stored_path.read_text())["record"]["status"] == "invalid_model"
    assert evaluate_returned_model(item, data) == record


def test_any_exception_evaluating_a_model_becomes_its_failure_and_is_retried_later(digits, tmp_path, monkeypatch):
    competition, data = digits
    item = _returned(tmp_path, competition, 0)

    def broken(*args, **kwargs):
        raise RuntimeError("device lost\nwhile evaluating")

    monkeypatch.setattr("harness.evaluation.model.evaluate_model", broken)
    record = evaluate_returned_model(item, data)
    assert record.status == "invalid_model"
    assert record.message == "evaluating the returned model failed: RuntimeError: device lost while evaluating"
    assert not item.stored_path.exists()  # maybe this machine's fault: the next run tries again
    monkeypatch.undo()
    assert evaluate_returned_model(item, data).status == "ok"


def test_a_valid_model_is_evaluated_and_its_row_kept_for_these_weights_only(digits, tmp_path):
    competition, data = digits
    item = _returned(tmp_path, competition, 1)
    record = evaluate_returned_model(item, data)
    assert record.status == "ok" and 0 <= record.retain_acc <= 1 and len(record.forget_confidences) == len(data.forget)
    stored = json.loads(item.stored_path.read_text())
    stored["weights_sha256"] = "0" * 64  # other weights under the same name: evaluated again, not reused
    item.stored_path.write_text(json.dumps(stored))
    assert evaluate_returned_model(item, data) == record


def test_a_run_with_unscorable_models_keeps_every_other_models_row(quick_digits, tmp_path):
    out = tmp_path / "result"
    code = cli(["run", str(NEGATIVE_VARIANCE), "--competition", str(quick_digits), "--n-models", "4", "--phase", "public",
                "--sandbox", "none", "--jobs", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
                "--quiet", "--bootstrap", "0", "--no-report"])
    assert code == 1
    record = json.loads((out / "score.json").read_text())
    assert record["status"] == "failed" and record["failure"]["kind"] == "invalid_model"
    assert "negative running_var in features.1.running_var and 2 other BatchNorm layers" in record["failure"]["message"]
    outputs = read_outputs(out / "outputs.parquet")
    unlearned = outputs.rows("unlearned", ok_only=False)
    # Seeds 1000000 + k: the even ones were broken, the odd ones evaluated as usual.
    assert outputs.status[unlearned].tolist() == ["invalid_model", "ok", "invalid_model", "ok"]
    assert (~np.isnan(outputs.retain_acc[unlearned])).tolist() == [False, True, False, True]
    assert outputs.rows("retrained").sum() == 4


def test_a_stored_row_is_reused_without_loading_the_data_and_missing_weights_are_a_failure(digits, tmp_path, monkeypatch):
    competition, data = digits
    item = _returned(tmp_path, competition, 2)
    first = evaluate_returned_model(item, data)

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded for a model whose row is stored")

    monkeypatch.setattr("harness.data.per_process.worker_data", no_data)
    assert evaluate_returned_model(item) == first  # a re-run: this worker never loads the data
    item.outcome.weights_path.unlink()
    gone = evaluate_returned_model(item)
    assert gone.status == "invalid_model" and gone.message.startswith("the returned weights cannot be read:")
