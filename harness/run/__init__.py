"""One evaluation of a submission: its settings (validated once) and the pipeline that runs every phase."""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "RunSettings": "harness.run.settings",
    "evaluate_submission": "harness.run.pipeline",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
