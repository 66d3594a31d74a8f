"""The competition metric (METRIC.md), NumPy/SciPy only: importing it never imports torch.

Official rule: `logit_scaled_confidence` -> `example_epsilons` -> `forgetting_quality`
(`forget_score` does both) -> `final_score`. Extensions beside it: `epsilon_lower_bounds`,
`bootstrap_forget_quality`, `bootstrap_final_score`, `calibration_reference`, `score_summary`.
See scoring/README.md for the rule, its quirks and the extensions.

Names load from their modules on first use: a process that only needs the confidence transform
(every worker that evaluates a model) does not pay SciPy's import (half a second per process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DELTA": "scoring.constants",
    "EPSILON_CAP": "scoring.constants",
    "CalibrationReference": "scoring.calibration",
    "Interval": "scoring.bootstrap",
    "ScoreSummary": "scoring.summary",
    "bootstrap_final_score": "scoring.bootstrap",
    "bootstrap_forget_quality": "scoring.bootstrap",
    "bucket_table": "scoring.forgetting",
    "calibration_reference": "scoring.calibration",
    "epsilon_lower_bounds": "scoring.bounds",
    "example_epsilons": "scoring.epsilon",
    "example_points": "scoring.forgetting",
    "final_score": "scoring.forgetting",
    "forget_score": "scoring.forgetting",
    "forgetting_quality": "scoring.forgetting",
    "logit_scaled_confidence": "scoring.confidence",
    "score_summary": "scoring.summary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from scoring.bootstrap import Interval, bootstrap_final_score, bootstrap_forget_quality
    from scoring.bounds import epsilon_lower_bounds
    from scoring.calibration import CalibrationReference, calibration_reference
    from scoring.confidence import logit_scaled_confidence
    from scoring.constants import DELTA, EPSILON_CAP
    from scoring.epsilon import example_epsilons
    from scoring.forgetting import bucket_table, example_points, final_score, forget_score, forgetting_quality
    from scoring.summary import ScoreSummary, score_summary
