"""A leaderboard as Markdown (for the terminal and READMEs), CSV (for tools) and HTML (for people)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from harness.results.leaderboard.table import CSV_COLUMNS, RANK_GROUP_ORDER_KEPT, Leaderboard, LeaderboardRow
from harness.results.folder import REPORT_FILE
from harness.utils.files import atomic_write_text

CSV_FILE = "leaderboard.csv"
HTML_FILE = "leaderboard.html"
_HEADERS = (
    "rank", "group", "submission", "status", "score", "interval", "F", "retain ratio", "test ratio", "time used",
    "order kept vs next",
)
CUTOFF_HEADER = "cutoff"  # shown after "time used" only when the results' cutoffs differ
_TEXT_HEADERS = {"submission", "status"}  # every other column is right-aligned


def to_markdown(board: Leaderboard) -> str:
    """A GitHub-flavoured Markdown table with a heading and a note on how to read it."""
    headers = _headers(board)
    lines = [
        f"# Leaderboard: {board.competition}, {board.phase} phase",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if h in _TEXT_HEADERS else "---:" for h in headers) + "|",
    ]
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in _display_cells(row, board)) + " |" for row in board.rows]
    lines += ["", _reading_note(board)]
    failures = [row for row in board.rows if row.failure]
    if failures:
        lines += ["", "Not scored:"] + [f"- {row.submission} ({row.status}): {row.failure}" for row in failures]
    return "\n".join(lines) + "\n"


def to_csv(board: Leaderboard) -> str:
    """Every CSV_COLUMNS field of every row; numbers at full precision, missing values empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in board.rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.as_csv_row().items()})
    return buffer.getvalue()


def to_html(board: Leaderboard, directory: str | os.PathLike | None = None) -> str:
    """A self-contained page: the table and the scores with their intervals as a plot.

    When `directory` (where the page will be written) is given, each submission links to its
    report.html by a relative path.
    """
    from harness.results.report import figures
    from harness.results.report.page import STATUS_COLOURS, Raw, escape, figure_block, html_page, table

    headers = _headers(board)
    submission, status = headers.index("submission"), headers.index("status")
    rows = []
    for row in board.rows:
        cells = list(_display_cells(row, board))
        report = Path(row.phase_dir) / REPORT_FILE
        if directory is not None and report.is_file():
            link = os.path.relpath(report.resolve(), Path(directory).resolve())
            cells[submission] = Raw(f'<a href="{escape(Path(link).as_posix())}">{escape(row.submission)}</a>')
        colour = STATUS_COLOURS[row.status]
        cells[status] = Raw(f'<span style="color: {colour}; font-weight: 600">{escape(row.status)}</span>')
        rows.append(cells)
    body = [
        f"<h1>Leaderboard: {escape(board.competition)}, {escape(board.phase)} phase</h1>",
        table(headers, rows, numeric=[h not in _TEXT_HEADERS for h in headers]),
        f"<p>{escape(_reading_note(board))}</p>",
    ]
    scored = [row for row in board.rows if row.status == "scored"]
    if scored:
        body.append(
            figure_block(
                figures.score_intervals(
                    [row.submission for row in scored],
                    [row.score for row in scored],
                    [row.score_low for row in scored],
                    [row.score_high for row in scored],
                ),
                "scores with bootstrap intervals",
                "Scored submissions, best at the top; bars are bootstrap intervals where available.",
            )
        )
    failures = [row for row in board.rows if row.failure]
    if failures:
        reasons = [(row.submission, row.status, row.failure) for row in failures]
        body.append("<h2>Not scored</h2>" + table(["submission", "status", "reason"], reasons))
    return html_page(f"Leaderboard: {board.competition} ({board.phase})", "\n".join(body))


def write_leaderboard(board: Leaderboard, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write leaderboard.csv and leaderboard.html into `directory` (atomically each)."""
    directory = Path(directory)
    return (
        atomic_write_text(directory / CSV_FILE, to_csv(board)),
        atomic_write_text(directory / HTML_FILE, to_html(board, directory)),
    )


def _headers(board: Leaderboard) -> tuple[str, ...]:
    if not board.mixed_cutoffs:
        return _HEADERS
    after = _HEADERS.index("time used") + 1
    return (*_HEADERS[:after], CUTOFF_HEADER, *_HEADERS[after:])


def _display_cells(row: LeaderboardRow, board: Leaderboard) -> tuple:
    interval = "" if row.score_low is None else f"{row.score_low:.4f} \u2013 {row.score_high:.4f}"
    kept = ""
    if row.order_kept_vs_next is not None:
        kept = f"{row.order_kept_vs_next:.0%}" + ("" if row.paired_with_next else " (unpaired)")
    cutoff = ("" if row.time_cutoff is None else f"{100 * row.time_cutoff:g}%",) if board.mixed_cutoffs else ()
    return (
        row.rank,
        "" if row.rank_group is None else row.rank_group,
        row.submission,
        row.status,
        _number(row.score),
        interval,
        _number(row.forget_quality),
        _number(row.retain_acc_ratio, 3),
        _number(row.test_acc_ratio, 3),
        "" if row.time_fraction is None else f"{row.time_fraction:.1%}",
        *cutoff,
        kept,
    )


def _reading_note(board: Leaderboard) -> str:
    note = (
        "Order kept vs next: the fraction of bootstrap resamples in which a result still scores above the one "
        "below it (paired when both were scored on the same retrained pool with the same resamples). "
        f"Group: neighbours whose order is kept in fewer than {RANK_GROUP_ORDER_KEPT:.0%} of the resamples share a "
        "rank group, chained through neighbours; within a group the order is not settled (without resamples, only "
        f"equal scores share a group). Intervals: {board.bootstrap}."
    )
    if board.mixed_cutoffs:
        note += (
            " MIXED TIME CUTOFFS: each result was judged against its own cutoff (column cutoff), so its status "
            "and time used are not comparable across rows."
        )
    return note


def _markdown_cell(value) -> str:
    return str(value).replace("|", "\\|")


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"
