"""The competition metric (METRIC.md), NumPy/SciPy only: importing it never imports torch."""

from scoring.confidence import logit_scaled_confidence

__all__ = ["logit_scaled_confidence"]
