"""outputs.parquet: every model's trusted evaluation, enough to re-score a run without torch.

One row per model (unlearned or retrained): its kind, index, seed, status ("ok" or a failure
kind), accuracies, seconds (an unlearning run's charged time, in the run's time basis; a retrained
model's training time), wall seconds, and the logit-scaled confidences on the forget set in
manifest order.
What describes the run as a whole (competition, phase, forget ids, times, sandbox) is one JSON
document stored in the Parquet schema metadata, so the file travels alone.

This module, like `scoring`, never imports torch: `unlearn-harness score` runs anywhere.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.errors import DataError
from harness.results.folder import OUTPUTS_FILE
from harness.sandbox.run_environment import TIME_BASES, TIME_BASIS_WALL
from harness.utils.files import atomic_write
from scoring import DELTA

# --- the table ---------------------------------------------------------------------------------
KINDS = ("unlearned", "retrained")
STATUS_OK = "ok"
METADATA_KEY = b"unlearn_harness.outputs"
# Bumped when a reader of the previous layout could misread a new file.
SCHEMA_VERSION = 1

SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("index", pa.int64(), nullable=False),
        pa.field("seed", pa.int64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("message", pa.string()),
        pa.field("retain_acc", pa.float64()),
        pa.field("test_acc", pa.float64()),
        pa.field("forget_acc", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("wall_seconds", pa.float64()),
        pa.field("forget_confidences", pa.list_(pa.float64())),
    ]
)
ACCURACY_COLUMNS = ("retain_acc", "test_acc", "forget_acc")
TIME_COLUMNS = ("seconds", "wall_seconds")
# Columns added after the first files were written: files without them still read (as nulls).
LATER_COLUMNS = frozenset({"wall_seconds"})


class OutputsError(DataError):
    """An outputs.parquet that is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class OutputsRow:
    """One row of outputs.parquet: one model's trusted evaluation, as the pipeline produces it.

    A failed model has `status` set to its failure kind (e.g. "exception", "timeout",
    "invalid_weights"), an optional `message`, and no accuracies or confidences. `seconds` is an
    unlearning run's charged time (in the metadata's `time_basis`) or a retrained model's
    training time; `wall_seconds` the wall-clock time of the same.
    """

    kind: str
    index: int
    seed: int | None
    status: str = STATUS_OK
    retain_acc: float | None = None
    test_acc: float | None = None
    forget_acc: float | None = None
    seconds: float | None = None
    forget_confidences: Sequence[float] | np.ndarray | None = None
    message: str | None = None
    wall_seconds: float | None = None


@dataclass(frozen=True)
class OutputsMetadata:
    """What describes the run as a whole. Times are seconds; `time_cutoff` is the allowed fraction.

    Times are in `time_basis` ("cpu": the sandbox's CPU time against the reference retrain's;
    "wall": wall-clock time), with the wall-clock times beside them (`*_wall_seconds_*`):
    `retrain_seconds_per_model` is the pool's reference time to train one model from scratch
    on `retrain_device` (`retrain_cpu_seconds_per_model` its CPU time, None on a GPU);
    `unlearn_seconds_per_model` is the supervisor's measurement of one unlearning run (None:
    take the mean of the unlearned rows' seconds). `time_note` says why the basis is what it is
    when that needs saying (e.g. wall time charged on a CPU without cgroup accounting). Outputs
    written before the basis was recorded read as "wall", which they were. `failure` is a
    submission-level failure ({kind, message}) that left no usable unlearned models, e.g.
    an import error. `sandbox` is {"backend": name, "isolated": bool}.
    """

    competition: str
    forget_ids: tuple[str, ...]
    n_models: int
    time_cutoff: float
    phase: str = "public"
    phases: tuple[str, ...] = ("public",)
    harness_version: str = ""
    delta: float = DELTA
    retrain_seconds_per_model: float | None = None
    retrain_device: str | None = None
    unlearn_seconds_per_model: float | None = None
    unlearn_device: str | None = None
    time_basis: str = TIME_BASIS_WALL
    time_note: str | None = None
    retrain_wall_seconds_per_model: float | None = None
    retrain_cpu_seconds_per_model: float | None = None
    unlearn_wall_seconds_per_model: float | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)
    submission: dict[str, Any] = field(default_factory=dict)
    failure: dict[str, str] | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Tuples keep the order fixed and the ids immutable; JSON hands back lists.
        object.__setattr__(self, "forget_ids", tuple(str(i) for i in self.forget_ids))
        object.__setattr__(self, "phases", tuple(self.phases))
        if not self.harness_version:
            from harness import __version__

            object.__setattr__(self, "harness_version", __version__)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["forget_ids"] = list(self.forget_ids)
        document["phases"] = list(self.phases)
        document["schema_version"] = SCHEMA_VERSION
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any], *, source: str = "metadata") -> "OutputsMetadata":
        version = document.get("schema_version")
        if version != SCHEMA_VERSION:
            raise OutputsError(
                f"{source}: outputs schema version {version!r} is not supported (this harness reads version "
                f"{SCHEMA_VERSION}); re-score it with the harness version that wrote it"
            )
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - document.keys())
        if missing:
            raise OutputsError(f"{source}: metadata lacks {', '.join(missing)}")
        for name in ("forget_ids", "phases"):
            if name in document and not isinstance(document[name], list):
                kind = type(document[name]).__name__
                raise OutputsError(f"{source}: metadata field {name!r} must be a list, got {kind}")
        values = {key: value for key, value in document.items() if key in known}
        try:
            metadata = cls(**values)
        except (TypeError, ValueError) as error:
            raise OutputsError(f"{source}: invalid metadata ({error})") from error
        metadata.validate(source)
        return metadata

    def validate(self, source: str = "metadata") -> None:
        """Check the fields a scorer relies on; raise OutputsError naming the first bad one."""
        if not self.competition:
            raise OutputsError(f"{source}: metadata field 'competition' is empty")
        if len(set(self.forget_ids)) != len(self.forget_ids):
            raise OutputsError(f"{source}: forget_ids contains duplicates")
        if not isinstance(self.n_models, int) or self.n_models < 1:
            raise OutputsError(f"{source}: n_models must be a positive integer, got {self.n_models!r}")
        if not _is_number(self.time_cutoff) or self.time_cutoff <= 0:
            raise OutputsError(f"{source}: time_cutoff must be a positive fraction, got {self.time_cutoff!r}")
        if not _is_number(self.delta) or not 0 < self.delta < 1:
            raise OutputsError(f"{source}: delta must lie in (0, 1), got {self.delta!r}")
        if self.time_basis not in TIME_BASES:
            raise OutputsError(f"{source}: time_basis must be one of {', '.join(TIME_BASES)}, got {self.time_basis!r}")
        for name in (
            "retrain_seconds_per_model", "unlearn_seconds_per_model", "retrain_wall_seconds_per_model",
            "retrain_cpu_seconds_per_model", "unlearn_wall_seconds_per_model",
        ):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value < 0):
                raise OutputsError(f"{source}: {name} must be a non-negative number or null, got {value!r}")
        if self.phase not in self.phases:
            raise OutputsError(f"{source}: phase {self.phase!r} is not in phases {list(self.phases)}")
        if self.failure is not None and not {"kind", "message"} <= set(self.failure):
            raise OutputsError(f"{source}: failure must be {{kind, message}}, got {self.failure!r}")


@dataclass(frozen=True)
class RunOutputs:
    """The whole table in columns (rows sorted by kind, then index) plus the run's metadata.

    `forget_confidences` is [rows, E] float64 with NaN rows for failed models; the float
    columns hold NaN where a value is missing.
    """

    metadata: OutputsMetadata
    kind: np.ndarray
    index: np.ndarray
    seed: np.ndarray  # int64; -1 where unknown
    status: np.ndarray
    message: np.ndarray
    retain_acc: np.ndarray
    test_acc: np.ndarray
    forget_acc: np.ndarray
    seconds: np.ndarray
    wall_seconds: np.ndarray
    forget_confidences: np.ndarray

    @classmethod
    def from_rows(cls, metadata: OutputsMetadata, rows: Iterable[OutputsRow]) -> "RunOutputs":
        """Assemble and validate the table from per-model rows (any order)."""
        rows = sorted(rows, key=lambda r: (_kind_order(r.kind), r.index))
        n_examples = len(metadata.forget_ids)
        confidences = np.full((len(rows), n_examples), np.nan)
        for position, row in enumerate(rows):
            if row.forget_confidences is not None:
                values = np.asarray(row.forget_confidences, dtype=np.float64)
                if values.shape != (n_examples,):
                    raise OutputsError(
                        f"{row.kind} model {row.index}: {values.size} forget confidences for "
                        f"{n_examples} forget examples"
                    )
                confidences[position] = values
        outputs = cls(
            metadata=metadata,
            kind=np.array([r.kind for r in rows], dtype=object),
            index=np.array([r.index for r in rows], dtype=np.int64),
            seed=np.array([-1 if r.seed is None else r.seed for r in rows], dtype=np.int64),
            status=np.array([r.status for r in rows], dtype=object),
            message=np.array([r.message for r in rows], dtype=object),
            retain_acc=_floats(r.retain_acc for r in rows),
            test_acc=_floats(r.test_acc for r in rows),
            forget_acc=_floats(r.forget_acc for r in rows),
            seconds=_floats(r.seconds for r in rows),
            wall_seconds=_floats(r.wall_seconds for r in rows),
            forget_confidences=confidences,
        )
        outputs.validate()
        return outputs

    # --- views -------------------------------------------------------------------------------
    def rows(self, kind: str, *, ok_only: bool = True) -> np.ndarray:
        """Boolean mask of the rows of `kind` (only successful ones by default)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        mask = self.kind == kind
        return mask & (self.status == STATUS_OK) if ok_only else mask

    def confidences(self, kind: str) -> np.ndarray:
        """[n_ok, E] float64 forget-set confidences of the successful models of `kind`, by index."""
        return self.forget_confidences[self.rows(kind)]

    def column(self, name: str, kind: str) -> np.ndarray:
        """One per-model column (e.g. "retain_acc", "seconds") for the successful models of `kind`."""
        if name not in {f.name for f in fields(self)} - {"metadata", "forget_confidences"}:
            raise ValueError(f"unknown column {name!r}")
        return getattr(self, name)[self.rows(kind)]

    def failures(self) -> list[dict[str, Any]]:
        """Every model whose status is not ok: [{kind, index, seed, status, message}]."""
        failed = np.flatnonzero(self.status != STATUS_OK)
        return [
            {
                "kind": str(self.kind[i]),
                "index": int(self.index[i]),
                "seed": None if self.seed[i] < 0 else int(self.seed[i]),
                "status": str(self.status[i]),
                "message": self.message[i],
            }
            for i in failed
        ]

    def select_models(self, indices: Sequence[int]) -> "RunOutputs":
        """Keep only models whose index is in `indices`, for both kinds (a model subset to re-score)."""
        wanted = np.asarray(sorted(set(int(i) for i in indices)), dtype=np.int64)
        if wanted.size == 0:
            raise DataError("the model subset is empty")
        present = set(self.index.tolist())
        absent = [int(i) for i in wanted if int(i) not in present]
        if absent:
            raise DataError(
                f"model indices {_abbreviate(absent)} are not in the outputs (indices present: "
                f"{_ranges(sorted(present))})"
            )
        return self.take_rows(np.isin(self.index, wanted), n_models=int(wanted.size))

    def first_models(self, count: int) -> "RunOutputs":
        """The first `count` models of each kind by index (re-score at a smaller N)."""
        if count < 1:
            raise DataError(f"asked for the first {count} models of each kind; give at least 1")
        per_kind = [sorted(set(self.index[self.kind == kind].tolist())) for kind in KINDS]
        available = min(len(indices) for indices in per_kind)
        if count > available:
            raise DataError(f"asked for the first {count} models of each kind but the outputs hold {available}")
        # Each kind keeps its own first `count` indices; the two kinds need not share indices.
        keep = np.zeros(self.index.shape, dtype=bool)
        for kind, indices in zip(KINDS, per_kind):
            keep |= (self.kind == kind) & np.isin(self.index, indices[:count])
        return self.take_rows(keep, n_models=count)

    def take_rows(self, rows: np.ndarray, *, n_models: int | None = None) -> "RunOutputs":
        """These rows (a boolean mask or an index array), optionally with a new n_models."""
        metadata = self.metadata if n_models is None else replace(self.metadata, n_models=n_models)
        columns = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "metadata"}
        return replace(self, metadata=metadata, **columns)

    # --- checks ------------------------------------------------------------------------------
    def validate(self, source: str = "outputs") -> None:
        """Raise OutputsError naming the first inconsistency a scorer would trip over."""
        self.metadata.validate(source)
        rows = self.kind.shape[0]
        for f in fields(self):
            length = getattr(self, f.name).shape[0] if f.name != "metadata" else rows
            if length != rows:
                raise OutputsError(f"{source}: column {f.name} has {length} rows, expected {rows}")
        unknown = sorted(set(self.kind.tolist()) - set(KINDS))
        if unknown:
            raise OutputsError(f"{source}: unknown model kind(s) {unknown}; expected {' or '.join(KINDS)}")
        seen: set[tuple[str, int]] = set()
        for kind, index in zip(self.kind.tolist(), self.index.tolist()):
            if (kind, index) in seen:
                raise OutputsError(f"{source}: {kind} model {index} appears more than once")
            seen.add((kind, index))
        for column in ACCURACY_COLUMNS:
            values = getattr(self, column)
            bad = np.flatnonzero(~np.isnan(values) & ((values < 0) | (values > 1)))
            if bad.size:
                i = bad[0]
                raise OutputsError(
                    f"{source}: {self.kind[i]} model {self.index[i]} has {column} = {values[i]}; "
                    "accuracies are fractions in [0, 1]"
                )
        ok = self.status == STATUS_OK
        for column in ("retain_acc", "test_acc"):
            missing = np.flatnonzero(ok & np.isnan(getattr(self, column)))
            if missing.size:
                i = missing[0]
                raise OutputsError(f"{source}: {self.kind[i]} model {self.index[i]} is ok but has no {column}")
        bad_rows = np.flatnonzero(ok & ~np.all(np.isfinite(self.forget_confidences), axis=1))
        if bad_rows.size and self.forget_confidences.shape[1]:
            i = bad_rows[0]
            raise OutputsError(
                f"{source}: {self.kind[i]} model {self.index[i]} is ok but its forget confidences are missing "
                "or not finite"
            )
        if len(self.metadata.forget_ids) == 0:
            raise OutputsError(f"{source}: the forget set is empty (metadata forget_ids)")


# --- writing and reading ---------------------------------------------------------------------
def write_outputs(path: str | os.PathLike, outputs: RunOutputs) -> Path:
    """Write outputs.parquet atomically (a temporary file in the same folder, then os.replace)."""
    outputs.validate()
    path = Path(path)
    confidences = _confidence_lists(outputs.forget_confidences, outputs.status == STATUS_OK)
    table = pa.table(
        {
            "kind": pa.array(outputs.kind.tolist(), pa.string()),
            "index": pa.array(outputs.index, pa.int64()),
            "seed": pa.array([None if s < 0 else int(s) for s in outputs.seed], pa.int64()),
            "status": pa.array(outputs.status.tolist(), pa.string()),
            "message": pa.array(outputs.message.tolist(), pa.string()),
            **{name: _nullable_floats(getattr(outputs, name)) for name in (*ACCURACY_COLUMNS, *TIME_COLUMNS)},
            "forget_confidences": confidences,
        },
        schema=SCHEMA,
    )
    metadata = json.dumps(outputs.metadata.to_json(), allow_nan=False, sort_keys=True)
    table = table.replace_schema_metadata({METADATA_KEY: metadata.encode()})
    return atomic_write(path, lambda temp: pq.write_table(table, temp, compression="zstd"))


def read_outputs(path: str | os.PathLike) -> RunOutputs:
    """Read and validate outputs.parquet (a result folder is accepted too).

    Raises OutputsError with the file name and the problem when the file is missing, is not
    Parquet, was not written by this harness, or is inconsistent.
    """
    path = Path(path)
    if path.is_dir():
        path = path / OUTPUTS_FILE
    source = str(path)
    if not path.is_file():
        raise OutputsError(
            f"{source}: no such file; give the outputs.parquet of a result folder (or the folder itself)"
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise OutputsError(f"{source}: not a readable Parquet file ({error})") from error
    metadata = _read_metadata(table.schema, source)
    _check_columns(table.schema, source)
    confidences = _confidence_matrix(table, len(metadata.forget_ids), source)
    columns = {name: table.column(name) for name in SCHEMA.names if name in table.schema.names}
    outputs = RunOutputs(
        metadata=metadata,
        kind=np.array(columns["kind"].to_pylist(), dtype=object),
        index=np.asarray(columns["index"].to_numpy(), dtype=np.int64),
        seed=np.array([-1 if s is None else s for s in columns["seed"].to_pylist()], dtype=np.int64),
        status=np.array(columns["status"].to_pylist(), dtype=object),
        message=np.array(columns["message"].to_pylist(), dtype=object),
        **{name: _floats(columns[name].to_pylist()) for name in ACCURACY_COLUMNS},
        **{name: _floats(columns[name].to_pylist()) if name in columns else np.full(table.num_rows, np.nan)
           for name in TIME_COLUMNS},
        forget_confidences=confidences,
    )
    outputs.validate(source)
    order = np.lexsort((outputs.index, [_kind_order(k) for k in outputs.kind]))
    return outputs.take_rows(order)


def _confidence_lists(matrix: np.ndarray, present: np.ndarray) -> pa.ListArray:
    """[rows, E] -> list<double> with one list per present row and null for the others (no Python loop)."""
    n_examples = matrix.shape[1]
    lengths = np.where(present, n_examples, 0)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    values = pa.array(np.ascontiguousarray(matrix[present]).ravel(), pa.float64())
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array(~present))


def _read_metadata(schema: pa.Schema, source: str) -> OutputsMetadata:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise OutputsError(
            f"{source}: no unlearn-harness metadata in the Parquet schema; this file was not written by unlearn-harness"
        )
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise OutputsError(f"{source}: the unlearn-harness metadata is not valid JSON ({error})") from error
    if not isinstance(document, dict):
        raise OutputsError(f"{source}: the unlearn-harness metadata is not a JSON object")
    return OutputsMetadata.from_json(document, source=source)


def _check_columns(schema: pa.Schema, source: str) -> None:
    for expected in SCHEMA:
        if expected.name not in schema.names:
            if expected.name in LATER_COLUMNS:
                continue
            raise OutputsError(f"{source}: column {expected.name!r} is missing")
        actual = schema.field(expected.name).type
        if actual != expected.type:
            raise OutputsError(f"{source}: column {expected.name!r} has type {actual}, expected {expected.type}")


def _confidence_matrix(table: pa.Table, n_examples: int, source: str) -> np.ndarray:
    column = table.column("forget_confidences").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(present & (lengths != n_examples))
    if wrong.size:
        row = int(wrong[0])
        raise OutputsError(
            f"{source}: row {row} has {lengths[row]} forget confidences but the metadata lists "
            f"{n_examples} forget examples"
        )
    matrix = np.full((len(column), n_examples), np.nan)
    if present.any():
        # Flattening skips null rows, so the values fill exactly the present rows in order.
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        matrix[present] = values.reshape(int(present.sum()), n_examples)
    return matrix


# --- small helpers ---------------------------------------------------------------------------
def mean_or_none(values: np.ndarray) -> float | None:
    """The mean of the values that are not NaN (a column's models that have it); None when none has."""
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None



def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _floats(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _nullable_floats(values: np.ndarray) -> pa.Array:
    return pa.array([None if math.isnan(v) else float(v) for v in values], pa.float64())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ranges(values: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5" for error messages."""
    parts, start = [], None
    for i, value in enumerate(values):
        if start is None:
            start = value
        if i + 1 == len(values) or values[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts) or "none"


def _abbreviate(values: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
