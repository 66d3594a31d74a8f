"""Losses shared by several methods."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.kit.loop import StepLoss


def classification_loss(net: nn.Module, class_weights: torch.Tensor | None = None) -> "StepLoss":
    """The step loss of plain supervised training: (optionally class-weighted) cross-entropy of `net`."""
    return lambda images, labels: F.cross_entropy(net(images), labels, weight=class_weights)


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) of temperature-softened outputs, scaled by T^2 (Hinton et al.), batch mean."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def soft_cross_entropy(student_logits: torch.Tensor, target_probabilities: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (rows summing to 1), batch mean."""
    return -(target_probabilities * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each row's softmax, shape [batch]."""
    log_probs = F.log_softmax(logits, dim=1)
    return -(log_probs.exp() * log_probs).sum(dim=1)


def add_input_noise(images: torch.Tensor, relative_std: float) -> torch.Tensor:
    """Gaussian noise with std `relative_std` x the batch's own pixel std: scale-free for 0-1 or 0-255 inputs."""
    return images + torch.randn_like(images) * (relative_std * images.std())
