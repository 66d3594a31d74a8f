"""Trusted evaluation of one model: forget-set confidences and accuracies, as the scorer needs them.

Used for the original model, every retrained model and every unlearned model alike, so all of them
are measured by the same code. Logits are computed in float32 (no autocast): the confidence signal
is a log-odds, sensitive to rounding near p = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.data.splits import CompetitionData, Split
from harness.compute.devices import resolve_device
from scoring.confidence import logit_scaled_confidence

DEFAULT_BATCH_SIZE = 512


class NonFiniteOutputs(ValueError):
    """The model's logits hold NaN or infinite values (finite weights can still give them), so it cannot be scored."""


@dataclass(frozen=True)
class ModelEvaluation:
    forget_confidences: np.ndarray  # float64 [E], forget set in manifest order
    retain_acc: float  # fractions in [0, 1]
    test_acc: float
    forget_acc: float
    val_acc: float | None = None


@torch.no_grad()
def predict_logits(model: nn.Module, split: Split, *, device: str | torch.device = "cpu", batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """float32 logits [len(split), classes] in split order (the model is put in eval mode and on `device`)."""
    device = resolve_device(device)
    model.eval().to(device)
    outputs = [
        model(split.images[start : start + batch_size].to(device)).float().cpu()
        for start in range(0, len(split), batch_size)
    ]
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(outputs).numpy()


def accuracy_from_logits(logits: np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(logits.argmax(axis=1) == labels))


def evaluate_model(
    model: nn.Module,
    data: CompetitionData,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    include_val: bool = True,
) -> ModelEvaluation:
    """Forget-set confidences (scoring.logit_scaled_confidence) and retain/test/forget(/val) accuracy.

    Leaves the model in eval mode on `device`. Raises NonFiniteOutputs, naming the split, when
    the model's logits on any split hold NaN or infinite values.
    """

    def logits(split: Split, name: str) -> np.ndarray:
        values = predict_logits(model, split, device=device, batch_size=batch_size)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            raise NonFiniteOutputs(f"its outputs on the {name} set are NaN or infinite for {int((~finite).sum())} of {len(split)} examples")
        return values

    def acc(split: Split, name: str) -> float:
        return accuracy_from_logits(logits(split, name), split.labels)

    forget_logits = logits(data.forget, "forget")
    forget_labels = data.forget.labels.numpy()
    return ModelEvaluation(
        forget_confidences=logit_scaled_confidence(forget_logits, forget_labels),
        retain_acc=acc(data.retain, "retain"),
        test_acc=acc(data.test, "test"),
        forget_acc=accuracy_from_logits(forget_logits, forget_labels),
        val_acc=acc(data.val, "validation") if include_val and len(data.val) else None,
    )
