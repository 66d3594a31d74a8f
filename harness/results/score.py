"""Scoring one phase: its outputs through the metric (`scoring`) into score.json's record.

`score_outputs(outputs, options)` takes the verdict (harness.results.verdict) and the time figures
(harness.results.time_rule), computes the official score and the extensions (bootstrap interval,
calibration reference, epsilon lower bounds) and returns the JSON-ready record together with the
per-example arrays a report plots. Like outputs.py and scoring/, this module never imports torch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

import scoring
from harness.errors import DataError
from harness.results.environment import run_environment_record
from harness.results.outputs import RunOutputs, mean_or_none
from harness.results.time_rule import time_figures
from harness.results.verdict import check_retrained_pool, classify, with_reason
from scoring.constants import RESAMPLE_KINDS

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
        if self.resample not in RESAMPLE_KINDS:
            raise DataError(f"resample must be one of {', '.join(RESAMPLE_KINDS)}, got {self.resample!r}")
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
    check_retrained_pool(outputs, R)
    U = outputs.confidences("unlearned")
    times = time_figures(outputs)
    status, failure = classify(outputs, U.shape[0], times)
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
        "environment": run_environment_record(meta.environment, device=meta.unlearn_device or meta.retrain_device),
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


# --- utility ---------------------------------------------------------------------------------
def _accuracies(outputs: RunOutputs) -> dict[str, float | None]:
    values = {
        f"{acc}_acc_{kind}": mean_or_none(outputs.column(f"{acc}_acc", kind))
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


# --- JSON ------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finite_json(value: Any) -> Any:
    """NaN/inf become null, so score.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
