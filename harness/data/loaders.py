"""The DataLoaders a submission receives: a split's examples in the competition's batch format."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from harness.config import batch_formats
from harness.config.batch_formats import BATCH_FORMATS
from harness.data.splits import Split


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
