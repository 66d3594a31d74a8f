"""Trusted evaluation: every model (original, retrained, unlearned) measured by the same code.

Names load from their modules on first use (harness.utils.lazy).
"""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "ModelEvaluation": "harness.evaluation.model",
    "NonFiniteOutputs": "harness.evaluation.model",
    "evaluate_model": "harness.evaluation.model",
    "evaluate_models": "harness.evaluation.stacked",
    "ReturnedModel": "harness.evaluation.returned",
    "evaluate_returned_model": "harness.evaluation.returned",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
