"""score.json: the verdict of one phase of a run, computed from its outputs with `scoring`.

`score_outputs(outputs, options)` decides the status (scored, over_time or failed), computes the
official score and the extensions (bootstrap interval, calibration reference, epsilon lower
bounds) and returns the JSON-ready record together with the per-example arrays a report plots.
Like outputs.py and scoring/, this module never imports torch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import scoring
from harness.errors import DataError
from harness.results.outputs import (
    OUTPUTS_FILE,
    REPORT_FILE,
    SCORE_FILE,
    RunOutputs,
    atomic_write_text,
    write_outputs,
)
from harness.sandbox.run_environment import TIME_BASIS_CPU, TIME_BASIS_WALL

STATUSES = ("scored", "over_time", "failed")
RESAMPLE_MODES = ("models", "examples")
# Model failure kinds that mean "ran out of time": they make the run over_time, not failed.
OVER_TIME_KINDS = frozenset({"timeout", "over_time"})
# What each time basis measures, in words (messages and reports).
CLOCK_NAMES = {TIME_BASIS_CPU: "CPU time", TIME_BASIS_WALL: "wall time"}
# How many of the highest-epsilon examples score.json names (the report plots them).
WORST_EXAMPLES = 10


@dataclass(frozen=True)
class ScoringOptions:
    """How to score: the official rule's delta plus the optional extensions.

    `delta` None takes the competition's delta stored in the outputs. `bootstrap` is the number
    of resamples for score_low/score_high (0: no interval). `calibration_splits` is the number of
    random halvings of the retrained pool for the calibration reference (0: skip). `bounds` adds
    per-example epsilon lower bounds at `confidence`. resample="examples" costs one scoring in all;
    "models" recomputes every epsilon per resample (n_resamples full scorings).
    """

    delta: float | None = None
    bootstrap: int = 100
    resample: str = "examples"
    confidence: float = 0.95
    seed: int = 0
    calibration_splits: int = 5
    bounds: bool = False
    n_jobs: int | None = None  # workers for the per-example epsilons (scoring's joblib threads)

    def __post_init__(self) -> None:
        if self.delta is not None and not 0 < self.delta < 1:
            raise DataError(f"delta must lie in (0, 1), got {self.delta}")
        if self.bootstrap < 0 or self.calibration_splits < 0:
            raise DataError("the number of bootstrap resamples and calibration splits cannot be negative")
        if self.resample not in RESAMPLE_MODES:
            raise DataError(f"resample must be one of {', '.join(RESAMPLE_MODES)}, got {self.resample!r}")
        if not 0 < self.confidence < 1:
            raise DataError(f"confidence must lie in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class ScoreResult:
    """score.json's record plus the per-example arrays behind it (None where not computed)."""

    record: dict[str, Any]
    epsilons: np.ndarray | None = None
    epsilon_lower_bounds: np.ndarray | None = None
    bootstrap_samples: np.ndarray | None = None

    @property
    def status(self) -> str:
        return self.record["status"]


def score_outputs(outputs: RunOutputs, options: ScoringOptions = ScoringOptions()) -> ScoreResult:
    """Score one phase's outputs: status, official score, utility, time and the extensions.

    Raises DataError when the outputs cannot be scored (an incomplete retrain pool, no reference
    time, values the metric refuses); a submission's own failures become the record's status.
    """
    try:
        return _score(outputs, options)
    except ValueError as error:
        # scoring validates its inputs with ValueErrors that name the problem and the fix.
        raise DataError(f"these outputs cannot be scored: {error}") from error


def _score(outputs: RunOutputs, options: ScoringOptions) -> ScoreResult:
    meta = outputs.metadata
    delta = meta.delta if options.delta is None else options.delta
    R = outputs.confidences("retrained")
    _check_retrained_pool(outputs, R)
    U = outputs.confidences("unlearned")
    times = _times(outputs)
    status, failure = _classify(outputs, U.shape[0], times)
    record = _base_record(outputs, status, failure, times, delta)

    # The populations are complete when every unlearned model came back; an over-time run
    # still gets its forgetting measured (useful to its author), but never a score.
    if status == "failed" or U.shape[0] != R.shape[0]:
        return ScoreResult(_finite_json(record))
    accuracies = [outputs.column(f"{acc}_acc", kind) for acc in ("retain", "test") for kind in ("unlearned", "retrained")]
    summary = scoring.score_summary(U, R, *accuracies, delta=delta, n_jobs=options.n_jobs)
    epsilons = np.asarray(summary.epsilons, dtype=np.float64)
    record["forget_quality"] = float(summary.forget_quality)
    record["epsilon"] = _epsilon_summary(epsilons, R.shape[0], meta.forget_ids)
    record["calibration"] = _calibration(R, options, delta)
    lower_bounds = None
    if options.bounds:
        lower_bounds = np.asarray(
            scoring.epsilon_lower_bounds(U, R, confidence=options.confidence, delta=delta, n_jobs=options.n_jobs),
            dtype=np.float64,
        )
        record["epsilon_lower_bounds"] = _bounds_summary(lower_bounds, R.shape[0], options.confidence)
    if status != "scored":
        return ScoreResult(_finite_json(record), epsilons=epsilons, epsilon_lower_bounds=lower_bounds)

    record["score"] = float(summary.score)
    samples = _bootstrap(U, R, accuracies, options, delta, record) if options.bootstrap else None
    return ScoreResult(_finite_json(record), epsilons, lower_bounds, samples)


def _base_record(outputs: RunOutputs, status: str, failure, times: dict[str, Any], delta: float) -> dict[str, Any]:
    """Every field score.json always has, whatever the status; the metric's fields start empty."""
    meta = outputs.metadata
    return {
        "status": status,
        "score": None,
        "score_low": None,
        "score_high": None,
        "forget_quality": None,
        **_accuracies(outputs),
        "n_models": meta.n_models,
        "n_forget_examples": len(meta.forget_ids),
        **times,
        "time_cutoff": meta.time_cutoff,
        "failure": with_reason(failure),
        "model_failures": outputs.failures(),
        "competition": meta.competition,
        "phase": meta.phase,
        "phases": list(meta.phases),
        "submission": {k: meta.submission.get(k) for k in ("path", "name")},
        "submission_sha256": meta.submission.get("sha256"),
        "harness_version": meta.harness_version,
        "environment": _environment(meta.environment, device=meta.unlearn_device or meta.retrain_device),
        "sandbox": meta.sandbox,
        "delta": delta,
        "started_at": meta.started_at,
        "finished_at": meta.finished_at,
        "scored_at": _now(),
        "retrained_fingerprint": retrained_fingerprint(outputs),
    }


def _bootstrap(U, R, accuracies, options: ScoringOptions, delta: float, record: dict[str, Any]) -> np.ndarray:
    """Add score_low/score_high and the resamples to `record`; return the resampled scores."""
    interval = scoring.bootstrap_final_score(
        U,
        R,
        *accuracies,
        delta=delta,
        resample=options.resample,
        n_resamples=options.bootstrap,
        confidence=options.confidence,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )
    samples = np.asarray(interval.samples, dtype=np.float64)
    record["score_low"], record["score_high"] = float(interval.low), float(interval.high)
    record["bootstrap"] = {
        "resample": options.resample,
        "n_resamples": options.bootstrap,
        "confidence": options.confidence,
        "seed": options.seed,
        # Stored so a leaderboard can tell how often two results keep their order without
        # re-scoring: results scored on the same retrained pool with the same seed share
        # their resamples, so their samples are paired.
        "samples": samples.tolist(),
    }
    return samples


def retrained_fingerprint(outputs: RunOutputs) -> str:
    """sha256 of the retrained population as scored (forget ids, confidences, accuracies).

    Two results with the same fingerprint were scored against the same retrained models, so
    their bootstrap resamples (same seed) are paired.
    """
    digest = hashlib.sha256()
    digest.update("\n".join(outputs.metadata.forget_ids).encode())
    rows = outputs.rows("retrained")
    digest.update(np.ascontiguousarray(outputs.index[rows]).tobytes())
    for column in (outputs.forget_confidences, outputs.retain_acc, outputs.test_acc):
        digest.update(np.ascontiguousarray(column[rows]).tobytes())
    return digest.hexdigest()


# --- status, times, utility --------------------------------------------------------------------
REASON_MAX_CHARS = 300


def with_reason(failure: dict[str, str] | None) -> dict[str, str] | None:
    """The failure with `reason`: one line for tables and logs (the message may hold a traceback).

    The reason is the kind and the message's verdict, its last line (a traceback's exception),
    leaving out the batch-format hint the harness may add after it; it keeps the message's
    "run k (seed s)" where the verdict is on a later line.
    """
    if failure is None:
        return None
    lines = [line.strip() for line in str(failure.get("message") or "").splitlines() if line.strip()]
    verdicts = [line for line in lines if not line.startswith("hint:")]
    verdict = verdicts[-1] if verdicts else ""
    if len(verdicts) > 1 and verdicts[0].startswith("run "):
        verdict = f"{verdicts[0].split(': ', 1)[0]}: {verdict}"
    reason = f"{failure['kind']}: {verdict}" if verdict else str(failure["kind"])
    if len(reason) > REASON_MAX_CHARS:
        reason = reason[: REASON_MAX_CHARS - 3] + "..."
    return {**failure, "reason": reason}


def _check_retrained_pool(outputs: RunOutputs, R: np.ndarray) -> None:
    broken = [f for f in outputs.failures() if f["kind"] == "retrained"]
    if broken:
        first = broken[0]
        raise DataError(
            f"retrained model {first['index']} has status {first['status']!r}: the retrain pool is incomplete; "
            "rebuild it with `unlearn-harness pool` before scoring"
        )
    if R.shape[0] < 2:
        raise DataError(f"the outputs hold {R.shape[0]} retrained model(s); the metric needs at least 2")


def _classify(outputs: RunOutputs, n_unlearned_ok: int, times: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """The run's status and failure ({kind, message}): a submission failure, a model failure,
    missing models, or a time per model over the competition's fraction of one retrain."""
    meta = outputs.metadata
    if meta.failure is not None:
        kind = meta.failure["kind"]
        return ("over_time" if kind in OVER_TIME_KINDS else "failed"), dict(meta.failure)
    failed = [f for f in outputs.failures() if f["kind"] == "unlearned"]
    if failed:
        first = failed[0]
        status = "over_time" if all(f["status"] in OVER_TIME_KINDS for f in failed) else "failed"
        message = f"{len(failed)} of {len(failed) + n_unlearned_ok} unlearning runs failed; first: model {first['index']}"
        if first["message"]:
            message += f": {first['message']}"
        return status, {"kind": first["status"], "message": message}
    n_retrained = int(outputs.rows("retrained").sum())
    if n_unlearned_ok != n_retrained:
        return "failed", {
            "kind": "missing_models",
            "message": f"{n_unlearned_ok} unlearned models for {n_retrained} retrained ones; the run is incomplete",
        }
    if times["time_fraction"] is not None and times["time_fraction"] > meta.time_cutoff:
        clock = CLOCK_NAMES[times["time_basis"]]
        return "over_time", {
            "kind": "over_time",
            "message": (
                f"unlearning took {times['unlearn_seconds_per_model']:.3g} s of {clock} per model, "
                f"{times['time_fraction']:.1%} of a {times['retrain_seconds_per_model']:.3g} s retrain; "
                f"the limit is {100 * meta.time_cutoff:g}%"
            ),
        }
    return "scored", None


def _times(outputs: RunOutputs) -> dict[str, Any]:
    """The time rule's figures: mean charged seconds per run against the reference retrain on the
    same clock (`time_basis`), with both on the wall clock beside them.

    Outputs written before the basis was recorded read as wall time (which they were): their
    wall figures are the charged ones. Where the metadata lacks a mean, the rows give it.
    """
    meta = outputs.metadata
    on_wall = meta.time_basis == TIME_BASIS_WALL
    retrain = meta.retrain_seconds_per_model
    if retrain is None:
        retrain = _mean_or_none(outputs.column("seconds", "retrained"))
    if retrain is None or retrain <= 0:
        raise DataError(
            "the outputs record no reference retrain time (metadata retrain_seconds_per_model or the retrained "
            "rows' seconds); the time limit cannot be checked"
        )
    attempted = outputs.rows("unlearned", ok_only=False)
    unlearn = meta.unlearn_seconds_per_model
    if unlearn is None:
        unlearn = _mean_or_none(outputs.seconds[attempted])
    unlearn_wall = meta.unlearn_wall_seconds_per_model
    if unlearn_wall is None:
        unlearn_wall = unlearn if on_wall else _mean_or_none(outputs.wall_seconds[attempted])
    retrain_wall = meta.retrain_wall_seconds_per_model
    if retrain_wall is None and on_wall:
        retrain_wall = retrain
    return {
        "time_basis": meta.time_basis,
        "unlearn_seconds_per_model": unlearn,
        "retrain_seconds_per_model": retrain,
        "time_fraction": None if unlearn is None else unlearn / retrain,
        "unlearn_wall_seconds_per_model": unlearn_wall,
        "retrain_wall_seconds_per_model": retrain_wall,
        "time_note": meta.time_note,
    }


def _accuracies(outputs: RunOutputs) -> dict[str, float | None]:
    values = {
        f"{acc}_acc_{kind}": _mean_or_none(outputs.column(f"{acc}_acc", kind))
        for acc in ("retain", "test", "forget")
        for kind in ("unlearned", "retrained")
    }
    for acc in ("retain", "test"):
        unlearned, retrained = values[f"{acc}_acc_unlearned"], values[f"{acc}_acc_retrained"]
        # Not capped at 1, as in the official scorer (METRIC.md, Final score).
        values[f"{acc}_acc_ratio"] = unlearned / retrained if unlearned is not None and retrained else None
    return values


# --- extensions ------------------------------------------------------------------------------
def _epsilon_summary(epsilons: np.ndarray, n_models: int, forget_ids: tuple[str, ...]) -> dict[str, Any]:
    edges, points = scoring.bucket_table(n_models)
    # Each bucket has its own points (1 / 2**k), so the scorer's per-example points say which
    # bucket an example fell in, by the metric's own rule.
    earned = scoring.example_points(epsilons, n_models)
    counts = [int(np.sum(earned == p)) for p in points]
    beyond = int(np.sum(earned == 0))
    worst = np.argsort(-epsilons, kind="stable")[:WORST_EXAMPLES]
    return {
        "mean": float(np.mean(epsilons)),
        "median": float(np.median(epsilons)),
        "max": float(np.max(epsilons)),
        "buckets": [
            {"low": float(lo), "high": float(hi), "points": float(p), "examples": int(c)}
            for lo, hi, p, c in zip(edges[:-1], edges[1:], points, counts)
        ],
        # Examples at or above max_eps earn no points (this includes every capped one).
        "examples_without_points": beyond,
        "worst_examples": [{"id": forget_ids[i], "epsilon": float(epsilons[i])} for i in worst],
    }


def _calibration(R: np.ndarray, options: ScoringOptions, delta: float) -> dict[str, Any] | None:
    if not options.calibration_splits or R.shape[0] < 4:
        return None
    reference = scoring.calibration_reference(
        R, n_splits=options.calibration_splits, seed=options.seed, delta=delta, n_jobs=options.n_jobs
    )
    return {
        "forget_quality": float(reference.forget_quality),
        "spread": float(reference.spread),
        "samples": np.asarray(reference.samples, dtype=np.float64).tolist(),
        "n_models_per_half": int(reference.n_models),
        "n_splits": options.calibration_splits,
    }


def _bounds_summary(lower_bounds: np.ndarray, n_models: int, confidence: float) -> dict[str, Any]:
    return {
        "confidence": confidence,
        "mean": float(np.mean(lower_bounds)),
        "max": float(np.max(lower_bounds)),
        # Examples whose epsilon is above 0 even at the lower bound: evidence of leakage that
        # finite-sample noise does not explain.
        "examples_above_zero": int(np.sum(lower_bounds > 0)),
        "forget_quality_upper": float(scoring.forgetting_quality(lower_bounds, n_models)),
    }


# --- environment and JSON --------------------------------------------------------------------
def describe_environment(device: str | None = None) -> dict[str, Any]:
    """The software this process runs on, without importing torch (its version comes from metadata)."""
    return {
        "device": device,
        "torch": _package_version("torch"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _environment(recorded: dict[str, Any], device: str | None) -> dict[str, Any]:
    # The run's own environment wins; the scorer's fills what the run did not record.
    return describe_environment(device) | {k: v for k, v in recorded.items() if v is not None}


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_score_json(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write score.json atomically, refusing NaN/inf (JSON has no such numbers)."""
    return atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")


def read_score_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a score.json; raise DataError naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / SCORE_FILE
    if not path.is_file():
        raise DataError(f"{path}: no such file; is {path.parent} a result folder of `unlearn-harness run`?")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise DataError(f"{path}: expected a JSON object")
    missing = [key for key in ("status", "score", "competition", "phase", "phases") if key not in record]
    if missing:
        raise DataError(f"{path}: missing field(s) {', '.join(missing)}; not a score.json of this harness")
    if record["status"] not in STATUSES:
        raise DataError(f"{path}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    return record


def write_phase_results(
    directory: str | os.PathLike,
    outputs: RunOutputs,
    options: ScoringOptions = ScoringOptions(),
    *,
    report: bool = True,
) -> ScoreResult:
    """Score `outputs` and write a phase's files into `directory`: outputs, score.json, report.html."""
    directory = Path(directory)
    write_outputs(directory / OUTPUTS_FILE, outputs)
    result = score_outputs(outputs, options)
    write_score_json(directory / SCORE_FILE, result.record)
    if report:
        from harness.results.report import write_report  # matplotlib only when a report is wanted

        write_report(directory / REPORT_FILE, result, outputs)
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _mean_or_none(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


def _finite_json(value: Any) -> Any:
    """NaN/inf become null, so score.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
