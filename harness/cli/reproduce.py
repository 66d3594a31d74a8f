"""`unlearn-harness reproduce`: score every baseline on a competition and write the leaderboard.

Each baseline in baselines/ is an ordinary submission: it goes through the same pool, sandbox,
trusted evaluation and scoring as any participant's file, into <out>/<baseline>/. A baseline runs
only on competitions whose forget set it supports (its entry in the baselines registry says which:
class unlearning needs a class). Re-running resumes: finished baselines are not run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.arguments import add_bootstrap, add_competition, add_data, add_evaluation, add_n_models, add_out, add_phases, apply_verbosity, run_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_competition(parser)
    add_n_models(parser)
    add_data(parser)
    add_out(parser, help="where results and the leaderboard go (default runs/<competition>/baselines)")
    add_phases(parser, help="score only this phase (repeatable; default: every phase); the leaderboard ranks the first one given")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this baseline (repeatable), e.g. finetune")
    add_bootstrap(parser, default=100, help="bootstrap resamples per result (default 100)")
    add_evaluation(parser)


def baseline_files(competition, only: list[str] | None = None) -> list[Path]:
    """The baselines that support `competition`'s forget set, in name order (baselines.BASELINES)."""
    from baselines import BASELINES
    from harness.errors import HarnessError

    entries = sorted((entry for entry in BASELINES if competition.forget.kind in entry.forget_kinds), key=lambda entry: entry.name)
    if only:
        known = {entry.name for entry in entries}
        unknown = sorted(set(only) - known)
        if unknown:
            raise HarnessError(f"unknown baseline(s) {', '.join(unknown)} for {competition.name}; available: {', '.join(sorted(known))}")
        entries = [entry for entry in entries if entry.name in only]
    return [entry.path for entry in entries]


def main(args: argparse.Namespace) -> int:
    from harness.config import load_competition
    from harness.results.leaderboard import build_leaderboard, to_markdown, write_leaderboard
    from harness.results.phase import load_phase_result
    from harness.results.score import ScoringOptions
    from harness.run.pipeline import evaluate_submission
    from harness.utils.progress import progress

    apply_verbosity(args)
    competition = load_competition(args.competition)
    out = (args.out or Path("runs") / competition.name / "baselines").resolve()
    results = []
    for baseline in progress(baseline_files(competition, args.only), desc="baselines", unit="baseline"):
        settings = run_settings(args, competition, out / baseline.stem,
                                phases=args.phase,
                                scoring=ScoringOptions(bootstrap=args.bootstrap, resample="examples"))
        record = evaluate_submission(baseline, settings)[0].record
        print(f"{baseline.stem}: {record['status']}, score {record['score']}", file=sys.stderr)
        # The leaderboard ranks the first phase scored: the public one unless --phase says otherwise.
        results.append(load_phase_result(out / baseline.stem, args.phase[0] if args.phase else None))
    board = build_leaderboard(results)
    csv_path, html_path = write_leaderboard(board, out)
    sys.stdout.write(to_markdown(board))
    print(f"\nwrote {csv_path} and {html_path}", file=sys.stderr)
    return 0
