"""What a run leaves behind, torch-free: outputs.parquet, the verdict and score.json, reports, leaderboards.

    outputs = read_outputs("runs/digits/finetune")      # the per-model table, enough to re-score
    result = score_outputs(outputs, ScoringOptions())   # the verdict, the score, the extensions

Nothing here imports torch (tests/results/test_torch_free.py imports every module with torch
blocked), so stored outputs can be scored on any machine. Names load from their modules on first use.
"""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "OutputsMetadata": "harness.results.outputs",
    "OutputsRow": "harness.results.outputs",
    "RunOutputs": "harness.results.outputs",
    "read_outputs": "harness.results.outputs",
    "write_outputs": "harness.results.outputs",
    "ScoringOptions": "harness.results.score",
    "ScoreResult": "harness.results.score",
    "score_outputs": "harness.results.score",
    "read_score_json": "harness.results.score_json",
    "write_score_json": "harness.results.score_json",
    "write_phase_results": "harness.results.writer",
    "PhaseResult": "harness.results.phase",
    "load_phase_result": "harness.results.phase",
    "phase_directory": "harness.results.folder",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
