"""Models and how they are trained: architectures, the competition's recipe, stacked training, warm-up.

Names load from their modules on first use (harness.utils.lazy): the sandbox worker builds the
architecture and warms torch up without loading the trainer.
"""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "build_model": "harness.training.architectures",
    "architecture_signature": "harness.training.architectures",
    "train_model": "harness.training.trainer",
    "TrainedModel": "harness.training.trainer",
    "EpochRecord": "harness.training.trainer",
    "train_models": "harness.training.stacked",
    "save_weights": "harness.training.weights",
    "warm_up": "harness.training.warmup",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
