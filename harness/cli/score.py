"""`unlearn-harness score`: re-score stored outputs.parquet without torch.

Useful to check a published result, to score at a smaller N (--n-models), or to add the
extensions (bounds, bootstrap interval, calibration reference) to an old run.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.cli.arguments import add_bootstrap, add_resampling, add_scoring_jobs, add_verbosity, apply_verbosity
from harness.errors import HarnessError
from harness.sandbox.run_environment import TIME_BASIS_CPU, TIME_BASIS_WALL

DEFAULT_CALIBRATION_SPLITS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outputs", metavar="OUTPUTS.parquet", help="stored outputs (or the result folder holding them)")
    subset = parser.add_mutually_exclusive_group()
    subset.add_argument("--n-models", type=int, metavar="N", help="score only the first N models of each kind")
    subset.add_argument("--models", type=int, dest="n_models", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the former spelling
    subset.add_argument(
        "--model-subset", metavar="INDICES", type=parse_index_list,
        help="score only these model indices (of both kinds), e.g. 0-63 or 0,2,10-19",
    )
    parser.add_argument("--delta", type=float, help="delta of the epsilon bound (default: the competition's, 1e-5)")
    parser.add_argument("--bounds", action="store_true", help="add per-example epsilon lower bounds")
    parser.add_argument("--confidence", type=float, help="confidence level of --bounds and --bootstrap (default 0.95)")
    add_bootstrap(parser, default=0, help="bootstrap interval of the score from N resamples (default 0: none)")
    add_resampling(parser)
    parser.add_argument(
        "--calibration", type=int, nargs="?", const=DEFAULT_CALIBRATION_SPLITS, default=0, metavar="SPLITS",
        help="score retrained vs retrained halves: what a perfect unlearner gets "
        f"(default {DEFAULT_CALIBRATION_SPLITS} splits)",
    )
    add_scoring_jobs(parser)
    parser.add_argument("--json", action="store_true", help="print score.json's record instead of a summary")
    parser.add_argument("--write-json", metavar="PATH", help="also write the record to PATH (a score.json)")
    parser.add_argument("--report", metavar="PATH", help="also write an HTML report to PATH")
    add_verbosity(parser)


def main(args: argparse.Namespace) -> int:
    # Imported here so `unlearn-harness --help` stays instant; none of these imports torch.
    from harness.results.outputs import read_outputs
    from harness.results.score import ScoringOptions, score_outputs
    from harness.results.score_json import write_score_json

    apply_verbosity(args)
    if args.confidence is not None and not (args.bounds or args.bootstrap):
        raise HarnessError("--confidence applies to --bounds or --bootstrap; add one of them")
    if args.resample is not None and not args.bootstrap:
        raise HarnessError("--resample applies to --bootstrap N; add it")
    if args.bootstrap < 0 or args.calibration < 0:
        raise HarnessError("--bootstrap and --calibration take a non-negative number")
    if args.jobs < 1:
        raise HarnessError(f"--jobs must be at least 1, got {args.jobs}")
    options = ScoringOptions(
        delta=args.delta,
        bootstrap=args.bootstrap,
        resample=args.resample or "examples",
        confidence=0.95 if args.confidence is None else args.confidence,
        seed=args.seed,
        calibration_splits=args.calibration,
        bounds=args.bounds,
        n_jobs=args.jobs,
    )
    outputs = read_outputs(args.outputs)
    if args.n_models is not None:
        outputs = outputs.first_models(args.n_models)
    elif args.model_subset is not None:
        outputs = outputs.select_models(args.model_subset)
    result = score_outputs(outputs, options)

    if args.write_json:
        write_score_json(args.write_json, result.record)
    if args.report:
        from harness.results.report import write_report  # matplotlib only when a report is asked for

        write_report(args.report, result, outputs)
    print(json.dumps(result.record, indent=2) if args.json else summarize(result.record))
    return 0 if result.status == "scored" else 1


def parse_index_list(text: str) -> list[int]:
    """"0-3,7" -> [0, 1, 2, 3, 7]; ranges are inclusive."""
    indices: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            start, stop = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not an index or a range like 0-63") from None
        if start < 0 or stop < start:
            raise argparse.ArgumentTypeError(f"{part!r} is not a valid range (use low-high with 0 <= low <= high)")
        indices.extend(range(start, stop + 1))
    if not indices:
        raise argparse.ArgumentTypeError("give at least one model index, e.g. 0-63")
    return indices


def summarize(record: dict[str, Any]) -> str:
    """score.json's record as a short text a person reads in a terminal."""
    name = (record.get("submission") or {}).get("name")
    lines = [
        f"{name + ': ' if name else ''}{record['competition']}, {record['phase']} phase, "
        f"N = {record['n_models']}, {record['n_forget_examples']} forget examples",
        f"  status              {record['status']}",
        f"  score               {_number(record['score'])}{_interval(record)}",
        f"  forgetting quality  {_number(record.get('forget_quality'))}",
    ]
    for acc in ("retain", "test", "forget"):
        ratio = record.get(f"{acc}_acc_ratio")
        lines.append(
            f"  {acc + ' accuracy':<19} unlearned {_number(record.get(f'{acc}_acc_unlearned'))}  "
            f"retrained {_number(record.get(f'{acc}_acc_retrained'))}"
            + (f"  ratio {_number(ratio)}" if ratio is not None else "")
        )
    lines.append(
        f"  time                {_seconds(record.get('unlearn_seconds_per_model'))} s per model = "
        f"{_percent(record.get('time_fraction'))} of a {_seconds(record.get('retrain_seconds_per_model'))} s retrain "
        f"(limit {_percent(record.get('time_cutoff'))}), {_clock(record)}"
    )
    if record.get("time_basis") == TIME_BASIS_CPU:
        lines.append(
            f"  wall time           {_seconds(record.get('unlearn_wall_seconds_per_model'))} s per model, "
            f"a retrain {_seconds(record.get('retrain_wall_seconds_per_model'))} s"
        )
    if record.get("time_note"):
        lines.append(f"  time note           {record['time_note']}")
    calibration = record.get("calibration")
    if calibration:
        lines.append(
            f"  calibration         a perfect unlearner gets F = {_number(calibration['forget_quality'])} "
            f"+- {_number(calibration['spread'])} "
            f"({calibration['n_models_per_half']} vs {calibration['n_models_per_half']} retrained models, "
            f"{calibration['n_splits']} splits)"
        )
    bounds = record.get("epsilon_lower_bounds")
    if bounds:
        lines.append(
            f"  epsilon bounds      {bounds['examples_above_zero']} examples leak at {bounds['confidence']:.0%} "
            f"confidence; F from lower bounds {_number(bounds['forget_quality_upper'])}"
        )
    if record.get("failure"):
        lines.append(f"  failure             {record['failure']['kind']}: {record['failure']['message']}")
    return "\n".join(lines)


def _interval(record: dict[str, Any]) -> str:
    bootstrap = record.get("bootstrap")
    if record.get("score_low") is None or not bootstrap:
        return ""
    return (
        f"  [{_number(record['score_low'])}, {_number(record['score_high'])}] "
        f"({bootstrap['confidence']:.0%}, {bootstrap['n_resamples']} resamples of {bootstrap['resample']})"
    )


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _clock(record: dict[str, Any]) -> str:
    from harness.results.time_rule import CLOCK_NAMES

    # score.json files written before the basis was recorded were charged on the wall clock.
    basis = record.get("time_basis") or TIME_BASIS_WALL
    return CLOCK_NAMES.get(basis, f"{basis} time")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
