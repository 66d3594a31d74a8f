"""`unlearn-harness run SUBMISSION`: evaluate a submission end to end.

Builds or reuses the retrain pool, runs the submission N times in the sandbox, evaluates every
returned model on the trusted side, scores it (METRIC.md) and writes score.json, outputs.parquet,
report.html and logs into --out. Re-running the same command resumes an interrupted run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.arguments import add_bootstrap, add_competition, add_data, add_evaluation, add_n_models, add_out, add_phases, apply_verbosity, run_settings

EXIT_SCORED, EXIT_NOT_SCORED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", type=Path, metavar="SUBMISSION", help="a .py file or a folder with submission.py")
    add_competition(parser)
    add_n_models(parser)
    add_data(parser)
    add_out(parser, help="result folder (default runs/<competition>/<submission>)")
    add_phases(parser, help="score only this phase (repeatable; default: every phase)")
    add_bootstrap(parser, default=100, help="bootstrap resamples for the score interval (default 100)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    add_evaluation(parser)


def main(args: argparse.Namespace) -> int:
    from harness.config import load_competition
    from harness.results.score import ScoringOptions
    from harness.run.pipeline import evaluate_submission

    apply_verbosity(args)
    competition = load_competition(args.competition)
    settings = run_settings(
        args, competition, args.out or Path("runs") / competition.name / args.submission.stem,
        phases=args.phase,
        report=not args.no_report,
        scoring=ScoringOptions(bootstrap=args.bootstrap, resample="examples"),
    )
    results = evaluate_submission(args.submission, settings)
    print(summary_table(results))
    return EXIT_SCORED if results[0].status == "scored" else EXIT_NOT_SCORED


def summary_table(results) -> str:
    """A short plain-text table of each phase's verdict, then where the report is."""
    from harness.results.time_rule import CLOCK_NAMES

    rows = [("phase", "status", "score", "forget quality", "retain acc (U/R)", "test acc (U/R)", "forget acc (U/R)", "time used")]
    for phase in results:
        r = phase.record
        rows.append((
            phase.phase,
            r["status"],
            _number(r["score"]),
            _number(r["forget_quality"]),
            f"{_percent(r['retain_acc_unlearned'])} / {_percent(r['retain_acc_retrained'])}",
            f"{_percent(r['test_acc_unlearned'])} / {_percent(r['test_acc_retrained'])}",
            f"{_percent(r['forget_acc_unlearned'])} / {_percent(r['forget_acc_retrained'])}",
            f"{_percent(r['time_fraction'])} of a retrain in {CLOCK_NAMES.get(r.get('time_basis'), 'wall time')} "
            f"(limit {100 * r['time_cutoff']:g}%)",
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for phase in results:
        failure = phase.record.get("failure")
        if failure:
            lines.append(f"{phase.phase}: {failure['kind']}: {failure['message']}")
        if phase.record.get("time_note"):
            lines.append(f"{phase.phase}: {phase.record['time_note']}")
    lines.append(f"report: {results[0].report_path}")
    lines.append(f"results: {results[0].phase_dir}")
    return "\n".join(lines)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _percent(value, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"
