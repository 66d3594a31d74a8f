"""`unlearn-harness leaderboard`: rank result folders; Markdown on stdout, CSV and HTML on disk.

Results judged against different time cutoffs (`run --time-cutoff`) are refused with an error
naming each folder's cutoff; --allow-mixed-cutoffs ranks them anyway, with a cutoff column and a
warning in the note under the table.
"""

from __future__ import annotations

import argparse
import sys

from harness.cli.arguments import add_bootstrap, add_out, add_phases, add_resampling, add_scoring_jobs, add_verbosity, apply_verbosity, one_phase


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT_DIR", help="result folders written by `unlearn-harness run`")
    add_phases(parser, help="which phase to rank (default: the first, public phase), e.g. private")
    add_out(parser, default=".", help="where to write leaderboard.csv and leaderboard.html (default: .)")
    add_bootstrap(parser, default=0, help="re-score every result's outputs.parquet with N bootstrap resamples (default: use score.json's)")
    add_resampling(parser)
    add_scoring_jobs(parser)
    parser.add_argument(
        "--allow-mixed-cutoffs", action="store_true",
        help="rank results judged against different time cutoffs (refused by default), with a cutoff column",
    )
    add_verbosity(parser)


def main(args: argparse.Namespace) -> int:
    from harness.errors import HarnessError
    from harness.results.leaderboard import build_leaderboard, to_markdown, write_leaderboard
    from harness.results.phase import load_phase_result

    apply_verbosity(args)
    phase = one_phase(args, "leaderboard")
    if args.bootstrap < 0:
        raise HarnessError("--bootstrap takes a non-negative number of resamples")
    if args.jobs < 1:
        raise HarnessError(f"--jobs must be at least 1, got {args.jobs}")
    results = [load_phase_result(directory, phase) for directory in args.results]
    board = build_leaderboard(results, bootstrap=args.bootstrap, resample=args.resample or "examples", seed=args.seed, n_jobs=args.jobs,
                              allow_mixed_cutoffs=args.allow_mixed_cutoffs)
    csv_path, html_path = write_leaderboard(board, args.out)
    sys.stdout.write(to_markdown(board))
    print(f"\nwrote {csv_path} and {html_path}", file=sys.stderr)
    return 0
