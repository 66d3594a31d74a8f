"""Trusted evaluation of many models at once: what harness.evaluation.model.evaluate_model measures, stacked.

Models are stacked `batch_models` at a time (harness.training.stacked.stack) and every stack reads each
split once: one forward per batch of examples serves all of its models. Logits are float32 with no
autocast, as in evaluate_model; the forget-set confidences are the same official transform.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from harness.training.stacked.inference import stacked_logits
from harness.training.stacked.sizes import check_batch_models
from harness.training.stacked.stack import StackedModel, stack_models, verify_stackable
from harness.data.splits import CompetitionData, Split
from harness.compute.devices import resolve_device
from harness.evaluation.model import ModelEvaluation
from scoring.confidence import logit_scaled_confidence


def evaluate_models(
    models: Sequence[nn.Module],
    data: CompetitionData,
    *,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    batch_models: int | None = None,
    include_val: bool = True,
) -> list[ModelEvaluation]:
    """evaluate_model(model, data, ...) for every model, `batch_models` models per stacked forward.

    `batch_size` is the examples per stacked forward (default: harness.training.stacked.sizes.examples_per_forward).
    The models must share one architecture; they are read, not changed (the stacks hold copies).
    Results are in the order of `models`.
    """
    models = list(models)
    if not models:
        return []
    device = resolve_device(device)
    batch_models = check_batch_models(batch_models, device)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    verify_stackable(models[0], _sample_inputs(data))
    evaluations: list[ModelEvaluation] = []
    for start in range(0, len(models), batch_models):
        stacked = stack_models(models[start : start + batch_models]).to(device).use_channels_last()
        evaluations += _evaluate_stack(stacked, data, batch_size, include_val)
    return evaluations


def _evaluate_stack(stacked: StackedModel, data: CompetitionData, batch_size: int | None, include_val: bool) -> list[ModelEvaluation]:
    forget_logits = _logits(stacked, data.forget, batch_size)  # [K, E, classes], float32
    forget_labels = data.forget.labels.numpy()
    forget_acc = _accuracies(forget_logits, data.forget)
    retain_acc = _accuracies(_logits(stacked, data.retain, batch_size), data.retain)
    test_acc = _accuracies(_logits(stacked, data.test, batch_size), data.test)
    val_acc = _accuracies(_logits(stacked, data.val, batch_size), data.val) if include_val and len(data.val) else [None] * stacked.n_models
    forget_host = forget_logits.cpu().numpy()
    return [
        ModelEvaluation(
            forget_confidences=logit_scaled_confidence(forget_host[index], forget_labels) if len(data.forget) else np.zeros(0, dtype=np.float64),
            retain_acc=retain_acc[index],
            test_acc=test_acc[index],
            forget_acc=forget_acc[index],
            val_acc=val_acc[index],
        )
        for index in range(stacked.n_models)
    ]


def _logits(stacked: StackedModel, split: Split, batch_size: int | None) -> torch.Tensor:
    if len(split) == 0:
        return torch.zeros(stacked.n_models, 0, 0)
    return stacked_logits(stacked, split.images, batch_size=batch_size, autocast=False)


def _accuracies(logits: torch.Tensor, split: Split) -> list[float]:
    """Each model's accuracy on `split` (NaN for an empty split, as evaluate_model)."""
    if len(split) == 0:
        return [float("nan")] * logits.shape[0]
    return (logits.argmax(-1) == split.labels.to(logits.device)).double().mean(1).tolist()


def _sample_inputs(data: CompetitionData) -> torch.Tensor:
    for split in (data.forget, data.retain, data.test, data.val):
        if len(split):
            return split.images[:2]
    raise ValueError("the competition data has no examples to evaluate on")
