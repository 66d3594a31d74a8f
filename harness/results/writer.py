"""Writing one phase of a result folder: outputs.parquet, then score.json and report.html scored from it."""

from __future__ import annotations

import os
from pathlib import Path

from harness.results.folder import OUTPUTS_FILE, REPORT_FILE, SCORE_FILE
from harness.results.outputs import RunOutputs, write_outputs
from harness.results.score import ScoreResult, ScoringOptions, score_outputs
from harness.results.score_json import write_score_json


def write_phase_results(
    directory: str | os.PathLike,
    outputs: RunOutputs,
    options: ScoringOptions = ScoringOptions(),
    *,
    report: bool = True,
) -> ScoreResult:
    """Score `outputs` and write a phase's files into `directory`: outputs, score.json, report.html."""
    directory = Path(directory)
    write_outputs(directory / OUTPUTS_FILE, outputs)
    result = score_outputs(outputs, options)
    write_score_json(directory / SCORE_FILE, result.record)
    if report:
        from harness.results.report import write_report  # matplotlib only when a report is wanted

        write_report(directory / REPORT_FILE, result, outputs)
    return result
