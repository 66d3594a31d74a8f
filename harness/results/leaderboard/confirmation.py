"""Screen, then confirm: did a leaderboard's order hold when its top entries were re-run at a larger N?

The 2023 organizers screened every submission at a small number of models and planned to "run the
top 5 submissions with a substantially larger number of models". `read_screening` reads the
screening leaderboard (leaderboard.csv), `select_top` picks the entries to re-run, and
`compare_rankings` sets the re-run's leaderboard beside the screening: how many pairs kept their
order, Kendall's tau and Spearman's rho between the two rankings, and both sets of intervals.
Torch-free, like the rest of harness.results.leaderboard.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

from harness.errors import DataError, HarnessError
from harness.results.leaderboard.render import CSV_FILE
from harness.results.leaderboard.table import Leaderboard, LeaderboardRow

# The leaderboard.csv columns a re-run needs.
REQUIRED_COLUMNS = ("rank", "submission", "status", "score", "score_low", "score_high", "n_models", "result_dir", "phase")
REPORT_FILE = "confirm.md"


@dataclass(frozen=True)
class ScreenedEntry:
    """One scored row of the screening leaderboard."""

    rank: int
    submission: str
    score: float
    score_low: float | None
    score_high: float | None
    n_models: int
    result_dir: Path
    phase: str


@dataclass(frozen=True)
class RankingComparison:
    """The screening's top entries beside their re-run, in screening order (`confirmed[i]` is `screened[i]`'s row)."""

    screened: list[ScreenedEntry]
    confirmed: list[LeaderboardRow]
    pairs: int  # pairs of entries the screening ranked apart
    pairs_kept: int  # of those, the pairs the re-run ranks strictly in the screening's order
    tied_at_screening: int  # pairs the screening ranked equal (not counted in `pairs`)
    kendall_tau: float | None  # None where undefined (fewer than two distinct ranks)
    spearman_rho: float | None

    @property
    def held(self) -> bool | None:
        """Whether every pair the screening ranked apart kept its order (None: it ranked none apart)."""
        return self.pairs_kept == self.pairs if self.pairs else None


def read_screening(directory: str | os.PathLike) -> list[ScreenedEntry]:
    """The scored entries of the leaderboard in `directory`, best first; DataError when it is not one."""
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; give the folder a leaderboard was written to (`unlearn-harness leaderboard --out` or `reproduce --out`)")
    path = folder / CSV_FILE
    if not path.is_file():
        raise DataError(f"{folder} is not a leaderboard folder: it has no {CSV_FILE} (written by `unlearn-harness leaderboard` or `reproduce`)")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; write it again with `unlearn-harness leaderboard`")
        rows = list(reader)
    try:
        entries = [_entry(row, folder) for row in rows if row["status"] == "scored"]
    except ValueError as error:
        raise DataError(f"{path}: unreadable row ({error}); write it again with `unlearn-harness leaderboard`") from None
    if not entries:
        raise DataError(f"{path} has no scored entry to re-run")
    if len({entry.phase for entry in entries}) > 1:
        raise DataError(f"{path} mixes phases ({', '.join(sorted({e.phase for e in entries}))}); a leaderboard ranks one phase")
    return sorted(entries, key=lambda entry: entry.rank)


def _entry(row: dict[str, str], folder: Path) -> ScreenedEntry:
    result_dir = Path(row["result_dir"])
    return ScreenedEntry(
        rank=int(row["rank"]),
        submission=row["submission"],
        score=float(row["score"]),
        score_low=float(row["score_low"]) if row["score_low"] else None,
        score_high=float(row["score_high"]) if row["score_high"] else None,
        n_models=int(row["n_models"]),
        result_dir=result_dir if result_dir.is_absolute() else folder / result_dir,
        phase=row["phase"],
    )


def select_top(entries: Sequence[ScreenedEntry], top: int) -> list[ScreenedEntry]:
    """The first `top` entries; HarnessError unless 2 <= top <= the scored entries."""
    if top < 2:
        raise HarnessError(f"--top must be at least 2 (a ranking needs two entries), got {top}")
    if top > len(entries):
        raise HarnessError(f"--top {top} is larger than the leaderboard's {len(entries)} scored entr{'y' if len(entries) == 1 else 'ies'}")
    return list(entries[:top])


def compare_rankings(screened: Sequence[ScreenedEntry], rerun_dirs: Sequence[str | os.PathLike], board: Leaderboard) -> RankingComparison:
    """Compare the screening with `board`, the leaderboard of the re-runs; `rerun_dirs[i]` is `screened[i]`'s re-run."""
    by_folder = {Path(row.result_dir).resolve(): row for row in board.rows}
    try:
        confirmed = [by_folder[Path(folder).resolve()] for folder in rerun_dirs]
    except KeyError as missing:
        raise ValueError(f"the re-run {missing.args[0]} is not on the confirmation leaderboard") from None
    if len(confirmed) != len(screened):
        raise ValueError(f"{len(screened)} entries screened, {len(confirmed)} re-run")
    every_pair = list(combinations(range(len(screened)), 2))
    pairs = [(i, j) for i, j in every_pair if screened[i].rank < screened[j].rank]  # i was ranked above j
    kept = sum(confirmed[i].rank < confirmed[j].rank for i, j in pairs)
    screening_ranks = [entry.rank for entry in screened]
    confirmed_ranks = [row.rank for row in confirmed]
    return RankingComparison(
        screened=list(screened),
        confirmed=confirmed,
        pairs=len(pairs),
        pairs_kept=kept,
        tied_at_screening=len(every_pair) - len(pairs),
        kendall_tau=_correlation("kendalltau", screening_ranks, confirmed_ranks),
        spearman_rho=_correlation("spearmanr", screening_ranks, confirmed_ranks),
    )


def _correlation(name: str, first: Sequence[int], second: Sequence[int]) -> float | None:
    if len(set(first)) < 2 or len(set(second)) < 2:
        return None
    from scipy import stats

    value = float(getattr(stats, name)(first, second)[0])
    return None if math.isnan(value) else value


def to_markdown(comparison: RankingComparison, *, competition: str, n_models: int, leaderboard_size: int, pool_note: str) -> str:
    """The comparison as Markdown: the verdict, the pool's reuse, one row per entry."""
    screened_n = max(entry.n_models for entry in comparison.screened)
    phase = comparison.screened[0].phase
    held = {True: "**yes**", False: "**no**", None: "undecided"}[comparison.held]
    ties = f"; {comparison.tied_at_screening} pair(s) tied at the screening" if comparison.tied_at_screening else ""
    lines = [
        f"# Confirmation: {competition}, {phase} phase",
        "",
        f"The top {len(comparison.screened)} of {leaderboard_size} scored entries, screened at N = {screened_n}, re-run at N = {n_models}.",
        "",
        f"- Ranking held: {held} ({comparison.pairs_kept} of {comparison.pairs} pairs ranked apart at the screening kept their order{ties})",
        f"- Kendall's tau {_number(comparison.kendall_tau, 2)}, Spearman's rho {_number(comparison.spearman_rho, 2)} (screening ranks vs re-run ranks)",
        f"- Retrain pool: {pool_note}",
        "",
        f"| screened rank | submission | score (N = {screened_n}) | interval | re-run rank | status | score (N = {n_models}) | interval | order kept vs next |",
        "|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for entry, row in zip(comparison.screened, comparison.confirmed):
        kept = "" if row.order_kept_vs_next is None else f"{row.order_kept_vs_next:.0%}"
        lines.append(
            f"| {entry.rank} | {_cell(entry.submission)} | {_number(entry.score)} | {_interval(entry.score_low, entry.score_high)} "
            f"| {row.rank} | {row.status} | {_number(row.score)} | {_interval(row.score_low, row.score_high)} | {kept} |"
        )
    failures = [(entry, row) for entry, row in zip(comparison.screened, comparison.confirmed) if row.failure]
    if failures:
        lines += ["", "Not scored at the re-run:"] + [f"- {_cell(entry.submission)} ({row.status}): {row.failure}" for entry, row in failures]
    lines += [
        "",
        "Order kept vs next: the fraction of the re-run's bootstrap resamples in which an entry still scores above the one "
        "it is ranked above at the re-run (paired on the shared retrained pool).",
    ]
    return "\n".join(lines) + "\n"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"{low:.4f} \u2013 {high:.4f}"


def _number(value: float | None, digits: int = 4) -> str:
    return "\u2013" if value is None else f"{value:.{digits}f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
