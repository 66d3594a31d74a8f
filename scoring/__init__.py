"""The competition metric (METRIC.md), NumPy/SciPy only: importing it never imports torch.

Official rule: `logit_scaled_confidence` -> `example_epsilons` -> `forgetting_quality`
(`forget_score` does both) -> `final_score`. Extensions beside it: `epsilon_lower_bounds`,
`bootstrap_forget_quality`, `bootstrap_final_score`, `calibration_reference`, `score_summary`.
See scoring/README.md for the rule, its quirks and the extensions.
"""

from scoring.bootstrap import Interval, bootstrap_final_score, bootstrap_forget_quality
from scoring.bounds import epsilon_lower_bounds
from scoring.calibration import CalibrationReference, calibration_reference
from scoring.confidence import logit_scaled_confidence
from scoring.constants import DELTA, EPSILON_CAP
from scoring.epsilon import example_epsilons
from scoring.forgetting import bucket_table, example_points, final_score, forget_score, forgetting_quality
from scoring.summary import ScoreSummary, score_summary

__all__ = [
    "DELTA",
    "EPSILON_CAP",
    "CalibrationReference",
    "Interval",
    "ScoreSummary",
    "bootstrap_final_score",
    "bootstrap_forget_quality",
    "bucket_table",
    "calibration_reference",
    "epsilon_lower_bounds",
    "example_epsilons",
    "example_points",
    "final_score",
    "forget_score",
    "forgetting_quality",
    "logit_scaled_confidence",
    "score_summary",
]
