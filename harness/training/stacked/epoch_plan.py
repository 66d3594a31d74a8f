"""Each stacked model's data order and augmentation for one epoch, drawn on the training device.

Every model has its own generator, seeded with its own seed, on the device where the data lives:
per epoch each model draws one permutation of the training set (and, for flip_crop, one flip and
one shift per position), so the training loop only slices these tensors and never goes back to
the host between batches. On CPU the permutation is the same draw `harness.training.trainer.train_model`
makes for that seed, so without augmentation a stacked model sees exactly the batches its
one-at-a-time twin sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from harness.training.trainer import CROP_PADDING


@dataclass(frozen=True)
class EpochPlan:
    """Per model k and position j of the epoch: example order[k, j], and its augmentation draws."""

    order: torch.Tensor  # int64 [K, N]
    flip: torch.Tensor | None = None  # bool [K, N]
    shift_y: torch.Tensor | None = None  # int64 [K, N], in [0, 2 * padding]
    shift_x: torch.Tensor | None = None

    @property
    def augmented(self) -> bool:
        return self.flip is not None


def model_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator per model on `device`, seeded with that model's seed."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def draw_epoch(generators: Sequence[torch.Generator], n_examples: int, device: torch.device, *, augment: bool, padding: int = CROP_PADDING) -> EpochPlan:
    """Draw every model's order (and augmentation) for one epoch; a few device calls per model, none per batch."""
    orders, flips, shifts_y, shifts_x = [], [], [], []
    for generator in generators:
        orders.append(torch.randperm(n_examples, generator=generator, device=device))
        if augment:
            flips.append(torch.rand(n_examples, generator=generator, device=device) < 0.5)
            shifts_y.append(torch.randint(0, 2 * padding + 1, (n_examples,), generator=generator, device=device))
            shifts_x.append(torch.randint(0, 2 * padding + 1, (n_examples,), generator=generator, device=device))
    if not augment:
        return EpochPlan(torch.stack(orders))
    return EpochPlan(torch.stack(orders), torch.stack(flips), torch.stack(shifts_y), torch.stack(shifts_x))


def flip_and_crop_with(images: torch.Tensor, flip: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor, padding: int = CROP_PADDING) -> torch.Tensor:
    """Flip images where `flip`, then crop each from its zero-padded copy at (shift_y, shift_x).

    images [n, C, H, W]; flip, shift_y, shift_x [n] on the images' device. The augmentation of
    `harness.training.trainer.flip_and_crop`, with the random draws given instead of drawn.
    """
    n, channels, height, width = images.shape
    images = torch.where(flip.view(n, 1, 1, 1), images.flip(3), images)
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    rows = shift_y.view(n, 1) + torch.arange(height, device=device)
    cols = shift_x.view(n, 1) + torch.arange(width, device=device)
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    channel = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return padded[batch, channel, rows.view(n, 1, height, 1), cols.view(n, 1, 1, width)]
