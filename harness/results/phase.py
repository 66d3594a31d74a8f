"""One phase of a result folder: its score.json record and where its files are.

What `evaluate_submission` returns for every phase it scored, and what leaderboards read back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.results.folder import OUTPUTS_FILE, PHASES_DIR, REPORT_FILE, SCORE_FILE, phase_directory
from harness.results.score_json import read_score_json


@dataclass(frozen=True)
class PhaseResult:
    """One result folder seen at one phase: its score.json record and where its files are."""

    result_dir: Path
    phase_dir: Path
    record: dict[str, Any]

    @property
    def submission(self) -> str:
        """The submission's name, or the result folder's name when the run recorded none."""
        return (self.record.get("submission") or {}).get("name") or self.result_dir.name

    @property
    def phase(self) -> str:
        return self.record["phase"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def outputs_path(self) -> Path:
        return self.phase_dir / OUTPUTS_FILE

    @property
    def report_path(self) -> Path:
        return self.phase_dir / REPORT_FILE


def load_phase_result(result_dir: str | os.PathLike, phase: str | None = None) -> PhaseResult:
    """Read `result_dir` at `phase` (None: the first, public phase, at the top of the folder)."""
    root = Path(result_dir)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; give result folders written by `unlearn-harness run`")
    if not (root / SCORE_FILE).is_file():
        return _later_phase_only(root, phase)
    top = read_score_json(root / SCORE_FILE)
    phases = list(top.get("phases") or [top["phase"]])
    if phase is None or phase == phases[0]:
        return PhaseResult(root, root, top)
    if phase not in phases:
        raise DataError(f"{root} has no phase {phase!r}; its phases are {', '.join(phases)}")
    directory = phase_directory(root, phase, phases)
    if not (directory / SCORE_FILE).is_file():
        raise DataError(f"{root}: phase {phase!r} has no {SCORE_FILE} at {directory}; the run did not finish that phase")
    return PhaseResult(root, directory, read_score_json(directory / SCORE_FILE))


def _later_phase_only(root: Path, phase: str | None) -> PhaseResult:
    """A folder whose run scored only later phases (`run --phase private`): no score.json at the top."""
    scored = sorted(path.parent.name for path in (root / PHASES_DIR).glob(f"*/{SCORE_FILE}"))
    if not scored:
        raise DataError(f"{root} is not a result folder (no {SCORE_FILE}); give folders written by `unlearn-harness run`")
    if phase is None and len(scored) == 1:
        phase = scored[0]
    if phase not in scored:
        wanted = "name one with --phase" if phase is None else f"it has no phase {phase!r}"
        raise DataError(f"{root} holds only the phase(s) {', '.join(scored)} (no public {SCORE_FILE} at the top); {wanted}")
    directory = root / PHASES_DIR / phase
    return PhaseResult(root, directory, read_score_json(directory / SCORE_FILE))
