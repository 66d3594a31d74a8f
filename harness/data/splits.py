"""In-memory splits of a competition's data, in manifest order.

The dataset readers' examples become a `CompetitionData` (harness.data.loading); the sandbox job
gets its retain/forget/val splits only (harness.sandbox.job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch


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
