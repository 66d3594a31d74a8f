"""report.html of one phase of a run: the verdict first, then the plots that explain it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.results.folder import PHASES_DIR, REPORT_FILE
from harness.results.outputs import RunOutputs
from harness.results.report import figures
from harness.results.report.page import STATUS_COLOURS, Raw, escape, figure_block, fmt, html_page, percent, table
from harness.sandbox.run_environment import TIME_BASIS_WALL
from harness.results.score import ScoreResult
from harness.results.time_rule import CLOCK_NAMES
from harness.utils.files import atomic_write_text

STATUS_TEXT = {"scored": "scored", "over_time": "over time", "failed": "failed"}


def render_report(result: ScoreResult, outputs: RunOutputs | None = None) -> str:
    """The whole report as one self-contained HTML document (plots embedded as PNG data URIs).

    `outputs` supplies the per-model values behind the plots; without it the report shows the
    verdict and the figures score.json alone can draw.
    """
    record = result.record
    sections = [
        _header(record),
        _banner(record),
        _notices(record),
        _forgetting_section(result, outputs),
        _utility_section(record, outputs),
        _time_section(record),
        _calibration_section(record),
        _failures_section(record),
        _details_section(record),
    ]
    return html_page(_title(record), "\n".join(section for section in sections if section))


def write_report(path: str | os.PathLike, result: ScoreResult, outputs: RunOutputs | None = None) -> Path:
    """Render the report and write it atomically to `path`."""
    return atomic_write_text(path, render_report(result, outputs))


# --- sections --------------------------------------------------------------------------------
def _title(record: dict[str, Any]) -> str:
    name = (record.get("submission") or {}).get("name") or "submission"
    return f"{name} \u2014 {record['competition']} ({record['phase']} phase)"


def _header(record: dict[str, Any]) -> str:
    links = _phase_links(record)
    return (
        f"<h1>{escape(_title(record))}</h1>"
        f'<p class=subtitle>unlearn-harness {escape(record.get("harness_version"))} \u00b7 '
        f'finished {escape(record.get("finished_at"))} \u00b7 scored {escape(record.get("scored_at"))}</p>'
        + (f"<nav>{links}</nav>" if links else "")
    )


def _phase_links(record: dict[str, Any]) -> str:
    phases, current = record.get("phases") or [], record["phase"]
    if len(phases) < 2:
        return ""
    # The first phase lives at the top of the result folder, the others under phases/<name>/.
    to_root = "" if current == phases[0] else "../../"
    parts = []
    for phase in phases:
        if phase == current:
            parts.append(f"<strong>{escape(phase)}</strong>")
            continue
        target = REPORT_FILE if phase == phases[0] else f"{PHASES_DIR}/{phase}/{REPORT_FILE}"
        parts.append(f'<a href="{escape(to_root + target)}">{escape(phase)} phase</a>')
    return "Phases: " + " ".join(parts)


def _banner(record: dict[str, Any]) -> str:
    status = record["status"]
    score = record.get("score")
    interval = ""
    if record.get("score_low") is not None:
        confidence = (record.get("bootstrap") or {}).get("confidence", 0.95)
        interval = f'<div class=metric><span class=label>{confidence:.0%} interval</span><span class=value>' \
                   f'{fmt(record["score_low"])} \u2013 {fmt(record["score_high"])}</span></div>'
    metrics = [
        ("forgetting quality F", fmt(record.get("forget_quality"))),
        ("retain acc. ratio", fmt(record.get("retain_acc_ratio"))),
        ("test acc. ratio", fmt(record.get("test_acc_ratio"))),
        ("time used / limit", f'{percent(record.get("time_fraction"))} / {_cutoff(record.get("time_cutoff"))}'),
        ("models (N)", fmt(record.get("n_models"))),
    ]
    metric_html = "".join(
        f'<div class=metric><span class=label>{escape(label)}</span><span class=value>{escape(value)}</span></div>'
        for label, value in metrics
    )
    return (
        f'<section class=banner style="--status: {STATUS_COLOURS[status]}">'
        f'<div class=metric><span class="status" id=status>{escape(STATUS_TEXT[status])}</span>'
        f'<span class=score id=score>{escape("no score" if score is None else f"{score:.4f}")}</span></div>'
        f"{interval}{metric_html}</section>"
    )


def _cutoff(cutoff: float | None) -> str:
    return "\u2014" if cutoff is None else f"{100 * cutoff:g}%"


def _notices(record: dict[str, Any]) -> str:
    notices = []
    failure = record.get("failure")
    if failure:
        notices.append(
            f'<p class=failure><strong>{escape(failure["kind"])}</strong>: {escape(failure["message"])}</p>'
        )
    sandbox = record.get("sandbox") or {}
    if sandbox and not sandbox.get("isolated", False):
        notices.append(
            f'<p class=warning>The submission ran with the <code>{escape(sandbox.get("backend"))}</code> sandbox '
            "backend, which does not isolate it. Use this result for debugging only.</p>"
        )
    return "".join(notices)


def _forgetting_section(result: ScoreResult, outputs: RunOutputs | None) -> str:
    summary = result.record.get("epsilon")
    if result.epsilons is None or not summary:
        return ""
    n_models = result.record["n_models"]
    parts = [
        "<h2>Forgetting</h2>",
        f"<p>Each forget example gets an epsilon from threshold attacks that try to tell the {n_models} unlearned "
        f"models from the {n_models} retrained ones; low epsilon earns points. "
        f"Mean epsilon {fmt(summary['mean'], 3)}, median {fmt(summary['median'], 3)}; "
        f"{summary['examples_without_points']} of {result.epsilons.size} examples earn no points.</p>",
        figure_block(
            figures.epsilon_histogram(result.epsilons, summary["buckets"]),
            "histogram of per-example epsilon with bucket edges",
            "Per-example epsilon. Dotted lines are the bucket edges; the label above each bucket is the points "
            "an example in it earns. F is the mean of those points.",
        ),
    ]
    if outputs is not None:
        U, R = outputs.confidences("unlearned"), outputs.confidences("retrained")
        if U.shape[1] == result.epsilons.size and U.shape[0] and R.shape[0]:
            parts.append(
                figure_block(
                    figures.worst_examples(U, R, result.epsilons),
                    "confidence distributions of the worst examples",
                    "The forget examples with the highest epsilon (numbered as in the table below): confidence of "
                    "every retrained (blue) and unlearned (orange) model. Where the two clouds separate, an "
                    "attacker can tell them apart.",
                )
            )
    parts.append(_worst_examples_table(summary["worst_examples"], outputs, result.epsilon_lower_bounds))
    bounds = result.record.get("epsilon_lower_bounds")
    if bounds:
        parts.append(
            f"<p>At {bounds['confidence']:.0%} confidence, {bounds['examples_above_zero']} examples have an epsilon "
            f"lower bound above 0 (leakage that sampling noise does not explain); F computed from the lower "
            f"bounds would be {fmt(bounds['forget_quality_upper'])}.</p>"
        )
    return "".join(parts)


def _worst_examples_table(
    worst: list[dict[str, Any]], outputs: RunOutputs | None, lower_bounds: np.ndarray | None
) -> str:
    """The highest-epsilon forget examples by id, so they can be looked up in the data."""
    if not worst:
        return ""
    headers = ["#", "forget example", "epsilon"]
    columns: list[list[Any]] = [[rank for rank in range(1, len(worst) + 1)], [e["id"] for e in worst],
                                [fmt(e["epsilon"], 3) for e in worst]]
    if outputs is not None:
        column_of = {example_id: i for i, example_id in enumerate(outputs.metadata.forget_ids)}
        where = [column_of[e["id"]] for e in worst]
        if lower_bounds is not None:
            headers.append("epsilon lower bound")
            columns.append([fmt(float(lower_bounds[i]), 3) for i in where])
        for kind in ("retrained", "unlearned"):
            medians = np.median(outputs.confidences(kind)[:, where], axis=0)
            headers.append(f"median \u03c6 {kind}")
            columns.append([fmt(float(m), 3) for m in medians])
    return "<h3>Highest-epsilon examples</h3>" + table(
        headers, list(zip(*columns)), numeric=[h not in ("forget example",) for h in headers]
    )


def _utility_section(record: dict[str, Any], outputs: RunOutputs | None) -> str:
    rows = [
        (f"{acc} accuracy", percent(record.get(f"{acc}_acc_unlearned"), 2),
         percent(record.get(f"{acc}_acc_retrained"), 2), fmt(record.get(f"{acc}_acc_ratio")))
        for acc in ("retain", "test", "forget")
    ]
    if all(row[1] == row[2] == "\u2014" for row in rows):
        return ""
    parts = ["<h2>Utility</h2>"]
    if outputs is not None:
        per_model = {
            acc: {kind: outputs.column(f"{acc}_acc", kind) for kind in ("retrained", "unlearned")}
            for acc in ("retain", "test", "forget")
        }
        parts.append(
            figure_block(
                figures.accuracy_comparison(per_model),
                "accuracies of unlearned and retrained models",
                "Bars: mean accuracy; dots: one model each. The score multiplies F by the retain and test "
                "accuracy ratios (unlearned / retrained, not capped at 1). Forget accuracy is reported, not scored.",
            )
        )
    parts.append(table(["", "unlearned", "retrained", "ratio"], rows, numeric=[False, True, True, True]))
    return "".join(parts)


def _time_section(record: dict[str, Any]) -> str:
    retrain = record.get("retrain_seconds_per_model")
    if not retrain:
        return ""
    basis = record.get("time_basis") or TIME_BASIS_WALL
    clocks = [(f"{CLOCK_NAMES.get(basis, basis)} (charged)", record.get("unlearn_seconds_per_model"), retrain)]
    wall_retrain = record.get("retrain_wall_seconds_per_model")
    if basis != TIME_BASIS_WALL and wall_retrain:
        clocks.append(("wall time (for information)", record.get("unlearn_wall_seconds_per_model"), wall_retrain))
    note = record.get("time_note")
    rows = [
        (clock, fmt(unlearn), fmt(reference), percent(None if unlearn is None else unlearn / reference))
        for clock, unlearn, reference in clocks
    ]
    return (
        "<h2>Time</h2>"
        + (f"<p class=warning>{escape(note)}</p>" if note else "")
        + figure_block(
            figures.time_budget(clocks, record["time_cutoff"]),
            "unlearning time against the limit",
            f"Seconds per model, measured by the supervisor, on the clock the runs were charged on "
            f"({escape(CLOCK_NAMES.get(basis, basis))}){' and on the wall clock' if len(clocks) > 1 else ''}. "
            f"A submission slower than {_cutoff(record['time_cutoff'])} of one retrain on the charged clock "
            "gets no score.",
        )
        + table(["clock", "unlearning (s per run)", "retrain (s per model)", "share of a retrain"], rows,
                numeric=[False, True, True, True])
    )


def _calibration_section(record: dict[str, Any]) -> str:
    reference = record.get("calibration")
    if not reference:
        return ""
    return "<h2>Calibration</h2>" + figure_block(
        figures.calibration(record.get("forget_quality"), reference),
        "forgetting quality against a perfect unlearner",
        f"What a perfect unlearner scores here: F of two disjoint halves of the retrained pool "
        f"({reference.get('n_models_per_half')} models each, {reference.get('n_splits')} random splits): "
        f"{fmt(reference.get('forget_quality'), 3)} \u00b1 {fmt(reference.get('spread'), 2)}. "
        "F is a ranking statistic: identical distributions do not reach 1.",
    )


def _failures_section(record: dict[str, Any]) -> str:
    failures = record.get("model_failures") or []
    if not failures:
        return ""
    rows = [
        (f["kind"], f["index"], f["seed"], f["status"], Raw(f"<pre>{escape(f['message'])}</pre>")) for f in failures
    ]
    return f"<h2>Failures ({len(failures)})</h2>" + table(["model", "index", "seed", "class", "message"], rows)


def _details_section(record: dict[str, Any]) -> str:
    environment = record.get("environment") or {}
    sandbox = record.get("sandbox") or {}
    rows = [
        ("competition", record["competition"]),
        ("phase", f"{record['phase']} (of {', '.join(record.get('phases') or [])})"),
        ("submission", (record.get("submission") or {}).get("path")),
        ("submission sha256", record.get("submission_sha256")),
        ("forget examples", record.get("n_forget_examples")),
        ("delta", record.get("delta")),
        ("time basis", record.get("time_basis") or TIME_BASIS_WALL),
        ("unlearning seconds per model", fmt(record.get("unlearn_seconds_per_model"))),
        ("retrain seconds per model", fmt(record.get("retrain_seconds_per_model"))),
        ("unlearning wall seconds per model", fmt(record.get("unlearn_wall_seconds_per_model"))),
        ("retrain wall seconds per model", fmt(record.get("retrain_wall_seconds_per_model"))),
        ("sandbox", ", ".join(f"{k}={v}" for k, v in sandbox.items()) or None),
        ("environment", ", ".join(f"{k}={v}" for k, v in environment.items() if v is not None)),
        ("started / finished", f"{fmt(record.get('started_at'))} / {fmt(record.get('finished_at'))}"),
        ("retrained pool fingerprint", record.get("retrained_fingerprint")),
    ]
    bootstrap = record.get("bootstrap")
    if bootstrap:
        rows.append(("bootstrap", f"{bootstrap['n_resamples']} resamples of {bootstrap['resample']}, "
                                  f"seed {bootstrap['seed']}"))
    return "<h2>Details</h2>" + table(["", ""], rows)
