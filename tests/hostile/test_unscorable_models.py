"""Finite weights whose outputs are not (a negative BatchNorm variance makes the logits NaN): the
harness's own evaluation finds them, that model is `invalid_model` with the reason, and every
other model of the run is evaluated as usual. Through a real sandbox, under both backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main as cli
from harness.results.outputs import read_outputs
from hostile.support import REPO, require_backend

pytestmark = pytest.mark.slow
NEGATIVE_VARIANCE = REPO / "tests" / "pipeline_submissions" / "negative_variance.py"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pool-cache")  # one pool for both backends


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_a_model_with_nan_outputs_is_invalid_and_the_others_are_scored(backend, quick_digits, cache, tmp_path):
    require_backend(backend)
    out = tmp_path / "result"
    code = cli(["run", str(NEGATIVE_VARIANCE), "--competition", str(quick_digits), "--n-models", "4", "--phase", "public",
                "--sandbox", backend, "--jobs", "2", "--cache-dir", str(cache), "--out", str(out),
                "--quiet", "--bootstrap", "0", "--no-report"])
    assert code == 1
    record = json.loads((out / "score.json").read_text())
    assert record["status"] == "failed" and record["failure"]["kind"] == "invalid_model"
    assert "negative running_var" in record["failure"]["reason"] and "\n" not in record["failure"]["reason"]
    assert record["sandbox"]["backend"] == backend
    outputs = read_outputs(out / "outputs.parquet")
    assert outputs.status[outputs.rows("unlearned", ok_only=False)].tolist() == ["invalid_model", "ok", "invalid_model", "ok"]
