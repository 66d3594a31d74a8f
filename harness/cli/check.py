"""`unlearn-harness check SUBMISSION`: the participant's one-minute smoke test.

Runs the real pipeline at N = 2 (sandbox, trusted evaluation, scoring) and answers PASS or FAIL
with the reason. A pass means the submission loads, runs, returns valid models and fits the
time limit; the score at N = 2 means nothing and is not shown.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness.cli.arguments import add_competition, add_data, add_evaluation, add_n_models, add_out, apply_verbosity, run_settings

CHECK_MODELS = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", type=Path, metavar="SUBMISSION", help="a .py file or a folder with submission.py")
    add_competition(parser)
    add_n_models(parser, help=f"models of each kind (default {CHECK_MODELS})")
    add_data(parser)
    add_out(parser, help="keep the check's files here (default: a temporary folder)")
    add_evaluation(parser)


def main(args: argparse.Namespace) -> int:
    from harness.config import load_competition
    from harness.results.score import ScoringOptions
    from harness.run.pipeline import evaluate_submission

    apply_verbosity(args)
    competition = load_competition(args.competition)
    with tempfile.TemporaryDirectory(prefix="unlearn-check-") as scratch:
        settings = run_settings(
            args, competition, args.out or Path(scratch), n_models=CHECK_MODELS,
            phases=(competition.phase_names[0],),
            report=False,
            scoring=ScoringOptions(bootstrap=0, calibration_splits=0),
        )
        record = evaluate_submission(args.submission, settings)[0].record
    verdict, reason = check_verdict(record)
    print(f"{verdict}: {args.submission} on {competition.name} (N = {settings.n_models}): {reason}")
    return 0 if verdict == "PASS" else 1


def check_verdict(record: dict) -> tuple[str, str]:
    """PASS when every run returned a valid model within the time limit; else FAIL and why."""
    if record["status"] == "failed":
        failure = record["failure"] or {"kind": "failed", "message": "no reason recorded"}
        return "FAIL", f"{failure['kind']}: {failure['message']}"
    from harness.results.time_rule import CLOCK_NAMES

    clock = CLOCK_NAMES.get(record.get("time_basis"), "wall time")
    used = f"{100 * record['time_fraction']:.1f}% of a retrain in {clock} (limit {100 * record['time_cutoff']:g}%)"
    if record["status"] == "over_time":
        return "FAIL", f"too slow: unlearning took {used}"
    return "PASS", (
        f"every run returned a valid model; time {used}; retain accuracy "
        f"{100 * record['retain_acc_unlearned']:.1f}% (retrained {100 * record['retain_acc_retrained']:.1f}%), "
        f"forget accuracy {100 * record['forget_acc_unlearned']:.1f}% (retrained {100 * record['forget_acc_retrained']:.1f}%)"
    )
