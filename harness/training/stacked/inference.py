"""Inference of a stack: every stacked model's logits on the same examples, in one forward per batch."""

from __future__ import annotations

import torch

from harness.training.stacked.sizes import examples_per_forward
from harness.training.stacked.stack import StackedModel


@torch.no_grad()
def stacked_logits(stacked: StackedModel, images: torch.Tensor, *, batch_size: int | None = None, autocast: bool = False) -> torch.Tensor:
    """float32 logits [K, n, classes] of every stacked model on the same `images` (eval mode, on their device).

    `batch_size` examples per forward (default: harness.training.stacked.sizes.examples_per_forward); bf16
    autocast only when asked (validation during training under bf16, as train_model does on CUDA).
    """
    was_training = stacked.training
    stacked.eval()
    device = next(stacked.parameters()).device
    batch_size = batch_size or examples_per_forward(device, stacked.n_models)
    outputs = []
    for start in range(0, len(images), batch_size):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            outputs.append(stacked(images[start : start + batch_size].to(device)).float())
    stacked.train(was_training)
    if not outputs:
        raise ValueError("stacked_logits needs at least one image")
    return torch.cat(outputs, dim=1)


def stacked_accuracy(stacked: StackedModel, images: torch.Tensor, labels: torch.Tensor, *, autocast: bool = False) -> torch.Tensor:
    """Each stacked model's accuracy on (images, labels): float64 tensor [K] on the models' device."""
    logits = stacked_logits(stacked, images, autocast=autocast)
    return (logits.argmax(-1) == labels.to(logits.device)).double().mean(1)
