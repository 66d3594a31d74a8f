"""A result folder of `unlearn-harness run`: the names of its files, and where each phase's files live.

    <out>/score.json, outputs.parquet, report.html   the first (public) phase
    <out>/phases/<name>/...                           every later phase
    <out>/logs/<phase>/, <out>/work/<phase>/          captured output; resumable work items

The pipeline writes these names, reports, leaderboards and `confirm` read them. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from harness.errors import DataError

OUTPUTS_FILE = "outputs.parquet"
SCORE_FILE = "score.json"
REPORT_FILE = "report.html"
LOGS_DIR = "logs"
PHASES_DIR = "phases"
WORK_DIR = "work"


def phase_directory(result_dir: str | os.PathLike, phase: str, phases: Sequence[str]) -> Path:
    """Where a phase's files live: the first (public) phase at the top, others under phases/<name>/."""
    if phase not in phases:
        raise DataError(f"phase {phase!r} is not one of this result's phases ({', '.join(phases) or 'none'})")
    root = Path(result_dir)
    return root if phase == phases[0] else root / PHASES_DIR / phase
