"""outputs.parquet: round trip, atomic writes, and clear errors on malformed files.

The synthetic-run helpers at the top are shared with the report, score and leaderboard tests:
they build outputs with NumPy (Gaussian confidences, optionally shifted on a few "leaky"
examples) so those tests never wait for training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import harness.results.outputs as outputs_module
from harness.errors import DataError
from harness.results.outputs import (
    METADATA_KEY,
    OutputsError,
    OutputsMetadata,
    OutputsRow,
    RunOutputs,
    read_outputs,
    write_outputs,
)
from harness.results.folder import phase_directory
from harness.results.score import ScoringOptions
from harness.results.writer import write_phase_results


# --- synthetic runs (shared helpers) ---------------------------------------------------------------
def synthetic_outputs(
    *,
    n_models: int = 12,
    n_examples: int = 30,
    leak: float = 0.0,
    n_leaky: int = 0,
    seed: int = 1,
    pool_seed: int = 0,
    retain_acc: float = 0.95,
    unlearn_seconds: float = 0.5,
    retrain_seconds: float = 10.0,
    time_cutoff: float = 0.1,
    name: str = "synthetic",
    competition: str = "synthetic",
    phase: str = "public",
    phases: tuple[str, ...] = ("public",),
    failed_models: dict[int, str] | None = None,
    failure: dict[str, str] | None = None,
    sandbox: dict | None = None,
    time_basis: str = "wall",
    unlearn_wall_seconds: float | None = None,
    retrain_wall_seconds: float | None = None,
    time_note: str | None = None,
) -> RunOutputs:
    """A run whose retrained pool depends only on `pool_seed` and whose unlearned models are the
    same distribution shifted by `leak` on the first `n_leaky` forget examples.

    Times: `unlearn_seconds` and `retrain_seconds` are on `time_basis`; the wall-clock figures
    default to them (as they are on the wall clock)."""
    unlearn_wall = unlearn_seconds if unlearn_wall_seconds is None else unlearn_wall_seconds
    retrain_wall = retrain_seconds if retrain_wall_seconds is None else retrain_wall_seconds
    pool_rng, rng = np.random.default_rng(pool_seed), np.random.default_rng(seed)
    shift = np.where(np.arange(n_examples) < n_leaky, leak, 0.0)
    records = [
        OutputsRow("retrained", i, i, retain_acc=0.96 + 0.01 * pool_rng.random(), test_acc=0.90 + 0.01 * pool_rng.random(),
                    forget_acc=0.90, seconds=retrain_wall, wall_seconds=retrain_wall,
                    forget_confidences=pool_rng.normal(size=n_examples))
        for i in range(n_models)
    ]
    failed_models = failed_models or {}
    for i in range(n_models):
        if failure is not None:
            records.append(OutputsRow("unlearned", i, 1000 + i, status=failure["kind"], message=failure["message"]))
        elif i in failed_models:
            records.append(OutputsRow("unlearned", i, 1000 + i, status=failed_models[i], message=f"model {i} broke <b>badly</b>"))
        else:
            records.append(
                OutputsRow("unlearned", i, 1000 + i, retain_acc=retain_acc - 0.01 * rng.random(),
                            test_acc=0.89 + 0.01 * rng.random(), forget_acc=0.93, seconds=unlearn_seconds,
                            wall_seconds=unlearn_wall, forget_confidences=rng.normal(size=n_examples) + shift)
            )
    metadata = OutputsMetadata(
        competition=competition,
        forget_ids=tuple(f"{competition}-{i:05d}" for i in range(n_examples)),
        n_models=n_models,
        time_cutoff=time_cutoff,
        phase=phase,
        phases=phases,
        retrain_seconds_per_model=retrain_seconds,
        retrain_device="cpu",
        unlearn_seconds_per_model=None if failure else unlearn_seconds,
        time_basis=time_basis,
        time_note=time_note,
        retrain_wall_seconds_per_model=retrain_wall,
        retrain_cpu_seconds_per_model=retrain_seconds if time_basis == "cpu" else None,
        unlearn_wall_seconds_per_model=None if failure else unlearn_wall,
        sandbox=sandbox or {"backend": "bwrap", "isolated": True},
        submission={"path": f"/submissions/{name}.py", "name": name, "sha256": "0" * 64},
        failure=failure,
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:10:00+00:00",
    )
    return RunOutputs.from_rows(metadata, records)


# Cheap defaults for tests: a small bootstrap, two calibration splits.
FAST_SCORING = ScoringOptions(bootstrap=20, resample="examples", calibration_splits=2)


def write_synthetic_result(
    directory: Path,
    *,
    phases: tuple[str, ...] = ("public",),
    options: ScoringOptions = FAST_SCORING,
    report: bool = False,
    pool_seed: int = 0,
    **kwargs,
) -> Path:
    """A result folder as `unlearn-harness run` lays it out: every phase, each with its files."""
    for number, phase in enumerate(phases):
        outputs = synthetic_outputs(phase=phase, phases=phases, pool_seed=pool_seed + 100 * number, **kwargs)
        write_phase_results(phase_directory(directory, phase, phases), outputs, options, report=report)
    return directory


# --- round trip ----------------------------------------------------------------------------------
def test_round_trip_keeps_every_value(tmp_path: Path):
    original = synthetic_outputs(failed_models={3: "exception"})
    path = write_outputs(tmp_path / "outputs.parquet", original)
    loaded = read_outputs(path)
    assert loaded.metadata == original.metadata
    for column in ("kind", "index", "seed", "status", "message"):
        assert loaded.__dict__[column].tolist() == original.__dict__[column].tolist(), column
    for column in ("retain_acc", "test_acc", "forget_acc", "seconds", "wall_seconds", "forget_confidences"):
        np.testing.assert_array_equal(loaded.__dict__[column], original.__dict__[column])
    # A failed model keeps its class and message but has no confidences.
    assert loaded.failures() == [
        {"kind": "unlearned", "index": 3, "seed": 1003, "status": "exception", "message": "model 3 broke <b>badly</b>"}
    ]
    assert loaded.confidences("unlearned").shape == (11, 30)
    assert loaded.confidences("retrained").shape == (12, 30)


def as_written_before_the_time_basis(path: Path) -> Path:
    """Rewrite outputs.parquet in the layout of harness versions before the two clocks: no
    wall_seconds column, no time basis or wall figures in the metadata."""
    added = ("time_basis", "time_note", "retrain_wall_seconds_per_model", "retrain_cpu_seconds_per_model",
             "unlearn_wall_seconds_per_model")
    return _rewrite(path, lambda t: _with_metadata(t.drop_columns(["wall_seconds"]), lambda d: [d.pop(key) for key in added]))


def test_a_file_written_before_the_time_basis_was_recorded_still_reads(tmp_path: Path):
    path = as_written_before_the_time_basis(write_outputs(tmp_path / "outputs.parquet", synthetic_outputs()))
    assert "wall_seconds" not in pq.read_schema(path).names
    loaded = read_outputs(path)
    assert loaded.metadata.time_basis == "wall" and loaded.metadata.retrain_wall_seconds_per_model is None
    assert np.isnan(loaded.wall_seconds).all() and loaded.seconds[loaded.kind == "unlearned"].tolist() == [0.5] * 12


def test_reading_a_result_folder_finds_its_outputs(tmp_path: Path):
    write_outputs(tmp_path / "outputs.parquet", synthetic_outputs())
    assert read_outputs(tmp_path).metadata.n_models == 12


def test_rows_come_back_in_kind_then_index_order(tmp_path: Path):
    outputs = synthetic_outputs(n_models=4)
    shuffled = [4, 0, 6, 2, 1, 7, 3, 5]
    table = pq.read_table(write_outputs(tmp_path / "o.parquet", outputs)).take(shuffled)
    pq.write_table(table, tmp_path / "shuffled.parquet")
    loaded = read_outputs(tmp_path / "shuffled.parquet")
    assert loaded.kind.tolist() == ["unlearned"] * 4 + ["retrained"] * 4
    assert loaded.index.tolist() == [0, 1, 2, 3] * 2
    np.testing.assert_array_equal(loaded.confidences("unlearned"), outputs.confidences("unlearned"))


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "outputs.parquet"
    write_outputs(path, synthetic_outputs(seed=1))
    before = path.read_bytes()

    def half_written(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(outputs_module.pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(path, synthetic_outputs(seed=2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs.parquet"]


# --- subsets --------------------------------------------------------------------------------------
def test_first_models_keeps_the_first_k_of_each_kind():
    subset = synthetic_outputs(n_models=6).first_models(4)
    assert subset.metadata.n_models == 4
    assert subset.index[subset.kind == "unlearned"].tolist() == [0, 1, 2, 3]
    assert subset.index[subset.kind == "retrained"].tolist() == [0, 1, 2, 3]


def test_select_models_takes_the_same_indices_of_both_kinds():
    subset = synthetic_outputs(n_models=6).select_models([5, 1, 1, 3])
    assert subset.metadata.n_models == 3
    assert subset.index.tolist() == [1, 3, 5, 1, 3, 5]


@pytest.mark.parametrize(
    "make_subset, message",
    [
        (lambda o: o.first_models(7), "outputs hold 6"),
        (lambda o: o.first_models(0), "at least 1"),
        (lambda o: o.select_models([2, 9, 10]), "9, 10 are not in the outputs"),
        (lambda o: o.select_models([]), "empty"),
    ],
)
def test_impossible_subsets_say_why(make_subset, message):
    with pytest.raises(DataError, match=message):
        make_subset(synthetic_outputs(n_models=6))


# --- construction checks ------------------------------------------------------------------------
def test_records_with_the_wrong_number_of_confidences_are_refused():
    outputs = synthetic_outputs(n_models=2, n_examples=5)
    records = [OutputsRow("retrained", 0, 0, retain_acc=1.0, test_acc=1.0, forget_confidences=np.zeros(4))]
    with pytest.raises(OutputsError, match="4 forget confidences for 5 forget examples"):
        RunOutputs.from_rows(outputs.metadata, records)


@pytest.mark.parametrize(
    "record, message",
    [
        (OutputsRow("retrained", 0, 0, retain_acc=1.5, test_acc=1.0, forget_confidences=np.zeros(3)), r"retain_acc = 1.5"),
        (OutputsRow("teacher", 0, 0, retain_acc=1.0, test_acc=1.0, forget_confidences=np.zeros(3)), "unknown model kind"),
        (OutputsRow("retrained", 0, 0, retain_acc=1.0, test_acc=1.0, forget_confidences=[0, np.nan, 0]), "not finite"),
        (OutputsRow("retrained", 0, 0, test_acc=1.0, forget_confidences=np.zeros(3)), "no retain_acc"),
    ],
)
def test_inconsistent_records_are_refused(record, message):
    metadata = synthetic_outputs(n_models=2, n_examples=3).metadata
    with pytest.raises(OutputsError, match=message):
        RunOutputs.from_rows(metadata, [record])


def test_duplicate_models_are_refused():
    metadata = synthetic_outputs(n_models=2, n_examples=3).metadata
    record = OutputsRow("retrained", 0, 0, retain_acc=1.0, test_acc=1.0, forget_confidences=np.zeros(3))
    with pytest.raises(OutputsError, match="retrained model 0 appears more than once"):
        RunOutputs.from_rows(metadata, [record, record])


def test_phase_directory_puts_the_first_phase_at_the_top(tmp_path: Path):
    phases = ("public", "private")
    assert phase_directory(tmp_path, "public", phases) == tmp_path
    assert phase_directory(tmp_path, "private", phases) == tmp_path / "phases" / "private"
    with pytest.raises(DataError, match="'final' is not one of this result's phases"):
        phase_directory(tmp_path, "final", phases)


# --- malformed files ----------------------------------------------------------------------------
def _rewrite(path: Path, transform) -> Path:
    table = pq.read_table(path)
    pq.write_table(transform(table), path)
    return path


def _with_metadata(table: pa.Table, edit) -> pa.Table:
    document = json.loads(table.schema.metadata[METADATA_KEY])
    edit(document)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(document).encode()})


@pytest.fixture
def written(tmp_path: Path) -> Path:
    return write_outputs(tmp_path / "outputs.parquet", synthetic_outputs(n_models=3, n_examples=4))


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(OutputsError, match=r"nowhere\.parquet: no such file"):
        read_outputs(tmp_path / "nowhere.parquet")


def test_a_file_that_is_not_parquet(tmp_path: Path):
    path = tmp_path / "outputs.parquet"
    path.write_text("status,score\nscored,0.1\n")
    with pytest.raises(OutputsError, match="not a readable Parquet file"):
        read_outputs(path)


def test_a_parquet_file_from_elsewhere(tmp_path: Path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(OutputsError, match="not written by unlearn-harness"):
        read_outputs(path)


@pytest.mark.parametrize(
    "transform, message",
    [
        (lambda t: t.drop_columns(["status"]), "column 'status' is missing"),
        (lambda t: t.set_column(t.schema.get_field_index("seed"), "seed", pa.array(["a"] * 6)).replace_schema_metadata(t.schema.metadata),
         "column 'seed' has type string"),
        (lambda t: t.replace_schema_metadata({METADATA_KEY: b"{not json"}), "metadata is not valid JSON"),
        (lambda t: _with_metadata(t, lambda d: d.update(schema_version=99)), "schema version 99 is not supported"),
        (lambda t: _with_metadata(t, lambda d: d.pop("forget_ids")), "metadata lacks forget_ids"),
        (lambda t: _with_metadata(t, lambda d: d.update(forget_ids="abcd")), "'forget_ids' must be a list, got str"),
        (lambda t: _with_metadata(t, lambda d: d.update(forget_ids=d["forget_ids"][:3])), "row 0 has 4 forget confidences but the metadata lists 3"),
        (lambda t: _with_metadata(t, lambda d: d.update(time_cutoff=-1)), "time_cutoff must be a positive fraction"),
        (lambda t: _with_metadata(t, lambda d: d.update(phase="final")), "phase 'final' is not in phases"),
        (lambda t: _with_metadata(t, lambda d: d.update(time_basis="gpu")), "time_basis must be one of cpu, wall, got 'gpu'"),
        (lambda t: _with_metadata(t, lambda d: d.update(retrain_cpu_seconds_per_model=-2)), "retrain_cpu_seconds_per_model must be"),
        (lambda t: t.set_column(t.schema.get_field_index("wall_seconds"), "wall_seconds", pa.array(["a"] * 6)).replace_schema_metadata(t.schema.metadata),
         "column 'wall_seconds' has type string"),
    ],
)
def test_malformed_files_get_specific_errors(written: Path, transform, message):
    _rewrite(written, transform)
    with pytest.raises(OutputsError, match=message) as raised:
        read_outputs(written)
    assert str(written) in str(raised.value)
