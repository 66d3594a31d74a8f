"""`unlearn-harness reproduce`: score every baseline on a competition and write the leaderboard.

Each baseline in baselines/ is an ordinary submission: it goes through the same pool, sandbox,
trusted evaluation and scoring as any participant's file, into <out>/<baseline>/. Class-unlearning
methods (file names containing "svd") run only on competitions whose forget set is a class.
Re-running resumes: finished baselines are not run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.arguments import (
    add_competition_arguments,
    add_execution_arguments,
    add_time_cutoff_argument,
    apply_verbosity,
    run_settings,
)

BASELINES_DIR = Path(__file__).resolve().parents[2] / "baselines"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_competition_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="where results and the leaderboard go (default runs/<competition>/baselines)")
    parser.add_argument("--phase", action="append", metavar="NAME", help="score only this phase (repeatable; default all); the leaderboard ranks the first one given")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this baseline (repeatable), e.g. finetune")
    parser.add_argument("--bootstrap", type=int, default=100, metavar="N", help="bootstrap resamples per result (default 100)")
    add_time_cutoff_argument(parser)
    add_execution_arguments(parser)


def baseline_files(competition, only: list[str] | None = None) -> list[Path]:
    """The baselines that apply to `competition`, in file-name order."""
    from harness.errors import HarnessError

    files = sorted(path for path in BASELINES_DIR.glob("*.py") if not path.name.startswith("_"))
    if competition.forget.kind != "class":
        files = [path for path in files if "svd" not in path.stem]
    if only:
        known = {path.stem for path in files}
        unknown = sorted(set(only) - known)
        if unknown:
            raise HarnessError(f"unknown baseline(s) {', '.join(unknown)} for {competition.name}; available: {', '.join(sorted(known))}")
        files = [path for path in files if path.stem in only]
    return files


def main(args: argparse.Namespace) -> int:
    from harness.config.competition import load_competition
    from harness.results.leaderboard import build_leaderboard, load_phase_result, to_markdown, write_leaderboard
    from harness.run.pipeline import evaluate_submission
    from harness.utils.progress import progress
    from harness.results.score import ScoringOptions

    apply_verbosity(args)
    competition = load_competition(args.competition)
    out = (args.out or Path("runs") / competition.name / "baselines").resolve()
    results = []
    for baseline in progress(baseline_files(competition, args.only), desc="baselines", unit="baseline"):
        settings = run_settings(args, competition, out / baseline.stem,
                                phases=tuple(args.phase) if args.phase else None,
                                scoring=ScoringOptions(bootstrap=args.bootstrap, resample="examples"))
        record = evaluate_submission(baseline, settings)[0].result.record
        print(f"{baseline.stem}: {record['status']}, score {record['score']}", file=sys.stderr)
        # The leaderboard ranks the first phase scored: the public one unless --phase says otherwise.
        results.append(load_phase_result(out / baseline.stem, args.phase[0] if args.phase else None))
    board = build_leaderboard(results)
    csv_path, html_path = write_leaderboard(board, out)
    sys.stdout.write(to_markdown(board))
    print(f"\nwrote {csv_path} and {html_path}", file=sys.stderr)
    return 0
