"""In-memory splits of a competition's data and the DataLoaders participants receive.

Every loader in the harness builds on these: datasets (harness.datasets) produce a
`CompetitionData` in manifest order; the sandbox job gets retain/forget/val only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from harness import batch_formats
from harness.batch_formats import BATCH_FORMATS  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Split:
    """One split, in manifest order. `images` are model-ready float32 NCHW tensors.

    `ages` and `person_ids` (int64, one per example) are recorded by datasets that serve the 2023
    dict batches (surf, digits_kaggle); None elsewhere.
    """

    images: torch.Tensor
    labels: torch.Tensor
    ids: np.ndarray  # manifest example ids (str), same order as images
    ages: torch.Tensor | None = None
    person_ids: torch.Tensor | None = None

    def __post_init__(self) -> None:
        sizes = {"images": self.images.shape[0], "labels": self.labels.shape[0], "ids": len(self.ids)}
        sizes.update({name: column.shape[0] for name, column in self._optional_columns().items()})
        if len(set(sizes.values())) > 1:
            raise ValueError("split sizes disagree: " + ", ".join(f"{size} {name}" for name, size in sizes.items()))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _optional_columns(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in ("ages", "person_ids") if getattr(self, name) is not None}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor column by name (images, labels, and ages/person_ids where recorded), for storage."""
        return {"images": self.images, "labels": self.labels, **self._optional_columns()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], ids: Sequence[str] | np.ndarray) -> "Split":
        """The inverse of `tensors()`: a split from its stored columns and its example ids."""
        return cls(
            images=tensors["images"],
            labels=tensors["labels"],
            ids=np.asarray(ids, dtype=str),
            ages=tensors.get("ages"),
            person_ids=tensors.get("person_ids"),
        )


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
        split = self.split
        image, label = split.images[index], split.labels[index]
        if self.batch_format != batch_formats.KAGGLE_DICT:
            return image, label
        # The 2023 data loader's example dict; `age` and `person_id` where the dataset records them
        # (every competition that serves this format does: the competition reader checks).
        example = {batch_formats.IMAGE_KEY: image, batch_formats.IMAGE_ID_KEY: str(split.ids[index]), batch_formats.LABEL_KEY: label}
        if split.ages is not None:
            example[batch_formats.AGE_KEY] = split.ages[index]
        if split.person_ids is not None:
            example[batch_formats.PERSON_ID_KEY] = split.person_ids[index]
        return example


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
