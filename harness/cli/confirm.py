"""`unlearn-harness confirm LEADERBOARD_DIR --top K --n-models M`: screen, then confirm.

Re-runs the top K scored entries of a leaderboard at a larger number of models M, as the 2023
organizers planned for their top 5, and says whether the screening's order held (pairs kept,
Kendall's tau, Spearman's rho, the new intervals): Markdown on stdout and in <out>/confirm.md,
beside the re-runs' own leaderboard. The retrain pool grows: the screening's models 0..N-1 stay in
the cache (give the screening's --cache-dir) and only models N..M-1 are trained. Re-running the
command resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.arguments import add_bootstrap, add_competition, add_data, add_evaluation, add_n_models, add_out, apply_verbosity, run_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("leaderboard", type=Path, metavar="LEADERBOARD_DIR", help="a folder holding leaderboard.csv (from `leaderboard` or `reproduce`)")
    parser.add_argument("--top", type=int, required=True, metavar="K", help="re-run the K best scored entries")
    add_n_models(parser, required=True, help="M: models of each kind in the re-runs, more than the screening's N")
    add_competition(parser, default=None,
                    help="the competition's TOML file when it is not a shipped one (default: the name the results recorded)")
    add_data(parser)  # give the screening's --cache-dir, so that its pool's models are reused
    add_out(parser, help="where the re-runs and the report go (default LEADERBOARD_DIR/confirm-N<M>)")
    add_bootstrap(parser, default=100, help="bootstrap resamples per re-run (default 100)")
    add_evaluation(parser)  # --time-cutoff's default here: the screening's own cutoff


def main(args: argparse.Namespace) -> int:
    from harness.compute.engines import execution_engine
    from harness.results.leaderboard import build_leaderboard, write_leaderboard
    from harness.results.leaderboard.confirmation import REPORT_FILE, compare_rankings, read_screening, select_top, to_markdown
    from harness.results.phase import load_phase_result
    from harness.results.score import ScoringOptions
    from harness.run.pipeline import evaluate_submission, phase_pool
    from harness.utils.files import atomic_write_text
    from harness.utils.progress import progress

    apply_verbosity(args)
    entries = read_screening(args.leaderboard)
    top = select_top(entries, args.top)
    screening_n = max(entry.n_models for entry in top)
    if args.n_models <= screening_n:
        from harness.errors import HarnessError

        raise HarnessError(f"--n-models {args.n_models} must be larger than the screening's N = {screening_n}")
    screened = [load_phase_result(entry.result_dir, entry.phase) for entry in top]
    competition = _competition(args.competition, screened)
    if args.time_cutoff is None:  # the screening's (a leaderboard holds one cutoff)
        args.time_cutoff = screened[0].record.get("time_cutoff")
    submissions = [_submission(result) for result in screened]
    phase = top[0].phase
    out = (args.out or args.leaderboard / f"confirm-N{args.n_models}").resolve()
    folders = _rerun_folders(out, top)
    settings = [
        run_settings(args, competition, folder, phases=(phase,), scoring=ScoringOptions(bootstrap=args.bootstrap, resample="examples"))
        for folder in folders
    ]

    # Grow the shared pool once, up front, so that the report can say what was reused.
    with execution_engine(settings[0].engine, jobs=settings[0].jobs, scheduler=settings[0].scheduler) as workers:
        pool = phase_pool(settings[0], phase, workers)
    pool_note = _pool_note(pool.built_now, args.n_models)
    for submission, run in progress(list(zip(submissions, settings)), desc="re-runs", unit="submission"):
        record = evaluate_submission(submission, run)[0].record
        print(f"{submission.stem}: {record['status']}, score {record['score']}", file=sys.stderr)
    reruns = [load_phase_result(folder, phase) for folder in folders]
    board = build_leaderboard(reruns)
    write_leaderboard(board, out)
    comparison = compare_rankings(top, folders, board)
    report = to_markdown(comparison, competition=competition.name, n_models=args.n_models, leaderboard_size=len(entries), pool_note=pool_note)
    atomic_write_text(out / REPORT_FILE, report)
    sys.stdout.write(report)
    print(f"\nwrote {out / REPORT_FILE} and the re-runs' leaderboard in {out}", file=sys.stderr)
    return 0


def _competition(requested: str | None, screened: list):
    """The competition the screening scored; --competition must name the same one (a TOML for unshipped ones)."""
    from harness.config import load_competition
    from harness.errors import HarnessError

    names = {result.record["competition"] for result in screened}
    if len(names) > 1:
        raise HarnessError(f"the entries were scored on different competitions ({', '.join(sorted(names))})")
    name = names.pop()
    try:
        competition = load_competition(requested or name)
    except HarnessError as error:
        if requested:
            raise
        raise HarnessError(f"the screening ran competition {name!r}, which is not a shipped one ({error}); give its TOML with --competition") from None
    if competition.name != name:
        raise HarnessError(f"--competition {requested} is {competition.name!r}, but the screening ran {name!r}")
    return competition


def _submission(result) -> Path:
    """The screened submission file, unchanged since its screening (same SHA-256)."""
    from harness.errors import HarnessError
    from harness.sandbox.submission_files import submission_sha256

    recorded = (result.record.get("submission") or {}).get("path")
    if not recorded or not Path(recorded).exists():
        raise HarnessError(f"{result.result_dir}: its submission {recorded or '(no path recorded)'} is not there any more; it cannot be re-run")
    path = Path(recorded)
    if submission_sha256(path) != result.record.get("submission_sha256"):
        raise HarnessError(f"{path} changed since it was screened ({result.result_dir}): the re-run would score another submission")
    return path


def _rerun_folders(out: Path, top: list) -> list[Path]:
    """One folder per re-run, named as its screening result folder (made unique by rank where names repeat)."""
    names = [entry.result_dir.name for entry in top]
    return [out / (name if names.count(name) == 1 else f"{entry.rank:03d}-{name}") for name, entry in zip(names, top)]


def _pool_note(built_now: int, n_models: int) -> str:
    total = n_models + 1  # the original model and n_models retrained ones
    if built_now == 0:
        return f"all {total} models were already in the cache"
    if built_now == total:
        return f"all {total} models trained now: none was in this cache (pass the screening's --cache-dir to reuse its models)"
    return f"{built_now} of the {total} models trained now, {total - built_now} reused from the cache"
