"""In-memory splits of a competition's data and the DataLoaders participants receive.

Every loader in the harness builds on these: datasets (harness.datasets) produce a
`CompetitionData` in manifest order; the sandbox job gets retain/forget/val only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

BATCH_FORMATS = ("tuple", "surf_dict")


@dataclass(frozen=True)
class Split:
    """One split, in manifest order. `images` are model-ready float32 NCHW tensors."""

    images: torch.Tensor
    labels: torch.Tensor
    ids: np.ndarray  # manifest example ids (str), same order as images

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0] or self.labels.shape[0] != len(self.ids):
            raise ValueError(
                f"split sizes disagree: {self.images.shape[0]} images, {self.labels.shape[0]} labels, {len(self.ids)} ids"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class CompetitionData:
    """All splits of one competition. `retain` + `forget` = the training set."""

    retain: Split
    forget: Split
    val: Split
    test: Split
    num_classes: int
    checksum: str  # the dataset checksum recorded in the manifest

    @property
    def in_channels(self) -> int:
        return int(self.retain.images.shape[1])


class _SplitDataset(Dataset):
    def __init__(self, split: Split, batch_format: str):
        self.split = split
        self.batch_format = batch_format

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int):
        image, label = self.split.images[index], self.split.labels[index]
        if self.batch_format == "surf_dict":
            # The 2023 Kaggle notebooks read batches as dicts with these keys.
            return {"image": image, "age_group": label}
        return image, label


def make_loader(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    batch_format: str = "tuple",
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader in the competition's batch format; shuffling is seeded so runs are reproducible."""
    if batch_format not in BATCH_FORMATS:
        raise ValueError(f"unknown batch format {batch_format!r}; known: {', '.join(BATCH_FORMATS)}")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        _SplitDataset(split, batch_format),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
    )
