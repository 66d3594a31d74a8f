"""Ranking results into a leaderboard, with how stable each neighbour's order is under resampling.

Neighbours whose order the bootstrap does not settle share a rank group: a result starts a new
group only when the one above it keeps its order in at least RANK_GROUP_ORDER_KEPT of the
resamples. Groups chain through neighbours (A ~ B and B ~ C put A, B and C in one group even if
A is clearly above C): within a group the order is chance. Results judged with different time
cutoffs are refused unless the caller allows them, and then every row shows its cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from harness.errors import DataError
from harness.results.phase import PhaseResult
from harness.results.outputs import RunOutputs, read_outputs
from harness.utils.progress import progress
from harness.sandbox.run_environment import TIME_BASIS_WALL
from harness.results.score import ScoringOptions, score_outputs

# Unscored results follow the scored ones in this order.
STATUS_ORDER = {"scored": 0, "over_time": 1, "failed": 2}
# A result is ranked apart from the one above it when their order is kept in at least this share
# of the bootstrap resamples; below it they share a rank group.
RANK_GROUP_ORDER_KEPT = 0.95
CSV_COLUMNS = (
    "rank",
    "rank_group",
    "submission",
    "status",
    "score",
    "score_low",
    "score_high",
    "forget_quality",
    "retain_acc_ratio",
    "test_acc_ratio",
    "time_fraction",
    "time_cutoff",
    "time_basis",
    "n_models",
    "order_kept_vs_next",
    "paired_with_next",
    "failure",
    "result_dir",
    "phase",
)


@dataclass
class LeaderboardRow:
    """One result on the leaderboard. `order_kept_vs_next` is the fraction of bootstrap
    resamples in which this result still scores above the next scored one; `rank_group`
    numbers the groups of scored results whose order is not settled (None when not scored)."""

    rank: int
    submission: str
    status: str
    score: float | None
    score_low: float | None
    score_high: float | None
    forget_quality: float | None
    retain_acc_ratio: float | None
    test_acc_ratio: float | None
    time_fraction: float | None
    time_cutoff: float | None
    time_basis: str | None
    n_models: int | None
    failure: str | None
    result_dir: str
    phase_dir: str = ""
    phase: str = ""  # the phase ranked, so that a leaderboard can be re-run (`unlearn-harness confirm`)
    order_kept_vs_next: float | None = None
    paired_with_next: bool | None = None
    rank_group: int | None = None
    samples: np.ndarray | None = field(default=None, repr=False)
    fingerprint: str | None = field(default=None, repr=False)
    bootstrap_key: tuple | None = field(default=None, repr=False)

    def as_csv_row(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in CSV_COLUMNS}


@dataclass(frozen=True)
class Leaderboard:
    competition: str
    phase: str
    rows: list[LeaderboardRow]
    bootstrap: str  # how the intervals were obtained, for people reading the table

    @property
    def mixed_cutoffs(self) -> bool:
        """Whether the results were judged against different time cutoffs (allowed only on request)."""
        return len({row.time_cutoff for row in self.rows}) > 1


def build_leaderboard(
    results: Sequence[PhaseResult],
    *,
    bootstrap: int = 0,
    resample: str = "examples",
    seed: int = 0,
    confidence: float = 0.95,
    n_jobs: int | None = None,
    allow_mixed_cutoffs: bool = False,
) -> Leaderboard:
    """Rank `results` (all of one competition and phase): scored by score, then over_time, then failed.

    With `bootstrap` > 0 every scored result is re-scored from its outputs.parquet with that many
    resamples (the same seed for all, so results on the same retrained pool share resamples);
    otherwise the intervals and samples stored in score.json are used. Results with different
    time cutoffs raise a DataError naming each folder's cutoff, unless `allow_mixed_cutoffs`.
    """
    if not results:
        raise DataError("no results to rank")
    competition, phase = _common_setting(results)
    if not allow_mixed_cutoffs:
        _check_common_cutoff(results)
    rows = [_row(result) for result in results]
    if bootstrap:
        options = ScoringOptions(bootstrap=bootstrap, resample=resample, seed=seed, confidence=confidence,
                                 calibration_splits=0, n_jobs=n_jobs)
        _rebootstrap(rows, results, options)
        how = f"{bootstrap} resamples of {resample} (seed {seed}), re-scored from outputs.parquet"
    else:
        how = _stored_bootstrap_description(results)
    rows.sort(key=lambda row: (STATUS_ORDER[row.status], -(row.score or 0.0), row.submission))
    _assign_ranks(rows)
    _order_stability(rows)
    _assign_rank_groups(rows)
    return Leaderboard(competition, phase, rows, how)


def order_kept(upper: np.ndarray, lower: np.ndarray, *, paired: bool) -> float:
    """How often resampling keeps `upper` above `lower` (ties count half).

    Paired samples (same resamples of a shared retrained pool) are compared resample by
    resample; unpaired ones over every pair of samples.
    """
    # A resample without a defined score (NaN: its retrained models had zero accuracy) says nothing.
    if paired:
        defined = ~(np.isnan(upper) | np.isnan(lower))
        upper, lower = upper[defined], lower[defined]
        return float(np.mean(upper > lower) + 0.5 * np.mean(upper == lower))
    upper, lower = upper[~np.isnan(upper)], lower[~np.isnan(lower)]
    lower_sorted = np.sort(lower)
    below = np.searchsorted(lower_sorted, upper, side="left")
    at_or_below = np.searchsorted(lower_sorted, upper, side="right")
    return float(np.mean(below + 0.5 * (at_or_below - below)) / lower.size)


def _common_setting(results: Sequence[PhaseResult]) -> tuple[str, str]:
    settings = {(r.record["competition"], r.record["phase"]) for r in results}
    if len(settings) > 1:
        listed = "; ".join(f"{r.result_dir}: {r.record['competition']}/{r.record['phase']}" for r in results)
        raise DataError(f"the results are from different competitions or phases and cannot be ranked together ({listed})")
    return settings.pop()


def _check_common_cutoff(results: Sequence[PhaseResult]) -> None:
    cutoffs = {r.record.get("time_cutoff") for r in results}
    if len(cutoffs) > 1:
        listed = "; ".join(f"{r.result_dir}: {_cutoff_text(r.record.get('time_cutoff'))}" for r in results)
        raise DataError(
            f"the results were judged against different time cutoffs ({listed}); re-run them with one "
            "--time-cutoff, or pass --allow-mixed-cutoffs to rank them with each one's cutoff shown"
        )


def _cutoff_text(cutoff: float | None) -> str:
    return "no cutoff recorded" if cutoff is None else f"cutoff {100 * cutoff:g}%"


def _row(result: PhaseResult) -> LeaderboardRow:
    record = result.record
    failure = record.get("failure")
    bootstrap = record.get("bootstrap") or {}
    samples = bootstrap.get("samples")
    return LeaderboardRow(
        rank=0,
        submission=result.submission,
        status=record["status"],
        score=record.get("score"),
        score_low=record.get("score_low"),
        score_high=record.get("score_high"),
        forget_quality=record.get("forget_quality"),
        retain_acc_ratio=_ratio(record, "retain"),
        test_acc_ratio=_ratio(record, "test"),
        time_fraction=record.get("time_fraction"),
        time_cutoff=record.get("time_cutoff"),
        # score.json files written before the basis was recorded were charged on the wall clock.
        time_basis=record.get("time_basis", TIME_BASIS_WALL),
        n_models=record.get("n_models"),
        failure=_failure_text(failure, record["status"]),
        result_dir=str(result.result_dir),
        phase_dir=str(result.phase_dir),
        phase=record["phase"],
        # score.json stores a resample that had no defined score (NaN) as null.
        samples=None if samples is None else np.array([np.nan if s is None else s for s in samples], dtype=np.float64),
        fingerprint=record.get("retrained_fingerprint"),
        bootstrap_key=_bootstrap_key(bootstrap) if samples is not None else None,
    )


def _failure_text(failure: dict[str, str] | None, status: str) -> str | None:
    if not failure:
        return None
    # "over_time: over_time: ..." says nothing twice; other kinds (exception, ...) add information.
    return failure["message"] if failure["kind"] == status else f"{failure['kind']}: {failure['message']}"


def _ratio(record: dict[str, Any], accuracy: str) -> float | None:
    if f"{accuracy}_acc_ratio" in record:
        return record[f"{accuracy}_acc_ratio"]
    unlearned, retrained = record.get(f"{accuracy}_acc_unlearned"), record.get(f"{accuracy}_acc_retrained")
    return unlearned / retrained if unlearned is not None and retrained else None


def _bootstrap_key(bootstrap: dict[str, Any]) -> tuple:
    return bootstrap.get("resample"), bootstrap.get("n_resamples"), bootstrap.get("seed")


def _rebootstrap(rows: list[LeaderboardRow], results: Sequence[PhaseResult], options: ScoringOptions) -> None:
    for row, result in progress(list(zip(rows, results)), desc="bootstrap", unit="result"):
        if row.status != "scored":
            continue
        # Each result keeps the delta it was scored with, so the interval surrounds its score.
        scored = score_outputs(_read_scored_outputs(result), replace(options, delta=result.record.get("delta")))
        if scored.status != "scored":
            raise DataError(
                f"{result.phase_dir}: score.json says scored but its outputs.parquet re-scores as {scored.status}; "
                "the two files do not belong together"
            )
        row.score_low, row.score_high = scored.record["score_low"], scored.record["score_high"]
        row.samples = scored.bootstrap_samples
        row.fingerprint = scored.record["retrained_fingerprint"]
        row.bootstrap_key = _bootstrap_key(scored.record["bootstrap"])


def _read_scored_outputs(result: PhaseResult) -> RunOutputs:
    if not result.outputs_path.is_file():
        raise DataError(
            f"{result.phase_dir} has no outputs.parquet; --bootstrap needs the stored outputs of every scored result"
        )
    outputs = read_outputs(result.outputs_path)
    n_models = result.record.get("n_models")
    # score.json may have been written for a subset (`score --n-models K`): bootstrap the same models.
    if n_models is not None and n_models < outputs.metadata.n_models:
        outputs = outputs.first_models(n_models)
    return outputs


def _stored_bootstrap_description(results: Sequence[PhaseResult]) -> str:
    settings = {_bootstrap_key(r.record["bootstrap"]) for r in results if r.record.get("bootstrap")}
    if not settings:
        return "no bootstrap in score.json; pass --bootstrap N for intervals"
    described = "; ".join(f"{n} resamples of {resample} (seed {seed})" for resample, n, seed in sorted(settings, key=str))
    return f"from score.json: {described}"


def _assign_ranks(rows: list[LeaderboardRow]) -> None:
    # Equal scores share a rank (1, 2, 2, 4); unscored results follow in listed order.
    for position, row in enumerate(rows, start=1):
        previous = rows[position - 2] if position > 1 else None
        tied = previous is not None and row.status == previous.status == "scored" and row.score == previous.score
        row.rank = previous.rank if tied else position


def _order_stability(rows: list[LeaderboardRow]) -> None:
    scored = [row for row in rows if row.status == "scored"]
    for upper, lower in zip(scored, scored[1:]):
        if upper.samples is None or lower.samples is None or not upper.samples.size or not lower.samples.size:
            continue
        paired = (
            upper.fingerprint is not None
            and upper.fingerprint == lower.fingerprint
            and upper.bootstrap_key == lower.bootstrap_key
            and upper.samples.size == lower.samples.size
        )
        upper.order_kept_vs_next = order_kept(upper.samples, lower.samples, paired=paired)
        upper.paired_with_next = paired


def _assign_rank_groups(rows: list[LeaderboardRow]) -> None:
    """Number the groups of scored results (1, 2, 2, 3, ...); a pair without resamples to judge
    by is kept apart unless their scores are equal."""
    scored = [row for row in rows if row.status == "scored"]
    group = 0
    for position, row in enumerate(scored):
        above = scored[position - 1] if position else None
        unsettled = above is not None and (
            above.score == row.score
            or (above.order_kept_vs_next is not None and above.order_kept_vs_next < RANK_GROUP_ORDER_KEPT)
        )
        group += 0 if unsettled else 1
        row.rank_group = group
