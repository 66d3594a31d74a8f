"""What every dataset reader returns, and the checksums that tie data to a split manifest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Examples:
    """Every example of a dataset in the dataset's own canonical order, images model-ready.

    `content_md5` fingerprints each example's source bytes, so a manifest can name exactly which
    examples differ; `source_md5` holds the md5 of each source file read (archive members, label
    files), so an extracted copy can be verified against what a manifest recorded. `ages` and
    `person_ids` are the 2023 dict batches' `age` and `person_id`, for datasets that record them.
    """

    ids: np.ndarray  # str, unique
    labels: np.ndarray  # int64
    groups: np.ndarray | None  # str (e.g. person ids), or None for datasets without groups
    origin: np.ndarray  # str: the dataset's own partition ("train"/"test"), or "all"
    content_md5: np.ndarray  # str, one per example
    images: torch.Tensor  # float32 NCHW, model-ready
    source_md5: dict[str, str] = field(default_factory=dict)
    ages: np.ndarray | None = None  # int64
    person_ids: np.ndarray | None = None  # int64

    def __post_init__(self) -> None:
        n = len(self.ids)
        sizes = {len(self.labels), len(self.origin), len(self.content_md5), int(self.images.shape[0])}
        for column in (self.groups, self.ages, self.person_ids):
            if column is not None:
                sizes.add(len(column))
        if sizes != {n}:
            raise ValueError(f"dataset columns disagree in length: {sorted(sizes)} (ids: {n})")
        if len(np.unique(self.ids)) != n:
            raise ValueError("dataset example ids are not unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def checksum(self) -> str:
        """sha256 over ids, labels, groups and per-example content: the dataset checksum of a manifest."""
        return dataset_checksum(self.ids, self.labels, self.groups, self.content_md5)


def dataset_checksum(ids, labels, groups, content_md5) -> str:
    """Order-independent sha256 of a dataset's examples (sorted by id), as recorded in manifests."""
    order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
    digest = hashlib.sha256()
    for index in order:
        group = "" if groups is None or groups[index] is None else str(groups[index])
        digest.update(f"{ids[index]}\t{int(labels[index])}\t{group}\t{content_md5[index]}\n".encode())
    return "sha256:" + digest.hexdigest()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_rows(array: np.ndarray) -> np.ndarray:
    """md5 of each row's bytes (C order): a per-example content fingerprint."""
    array = np.ascontiguousarray(array)
    return np.array([md5_bytes(row.tobytes()) for row in array.reshape(array.shape[0], -1)], dtype=str)


def md5_file(path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class SplitAssignment:
    """Manifest order: `rows` index into Examples; `split` is "train", "val" or "test" per row."""

    rows: np.ndarray  # int64
    split: np.ndarray  # str

    @classmethod
    def from_parts(cls, parts: list[tuple[str, np.ndarray]]) -> "SplitAssignment":
        """Concatenate (split name, row indices) parts in the given order."""
        rows = np.concatenate([np.asarray(indices, dtype=np.int64) for _, indices in parts])
        split = np.concatenate([np.full(len(indices), name, dtype=object) for name, indices in parts]).astype(str)
        return cls(rows=rows, split=split)


def fraction_sizes(n: int, fractions: list[float]) -> list[int]:
    """Split n items by fractions: floor each, then hand the remainder out one by one from the first.

    This is torch.utils.data.random_split's rule, used for every dataset so sizes never surprise.
    """
    sizes = [int(np.floor(n * fraction)) for fraction in fractions]
    for index in range(n - sum(sizes)):
        sizes[index % len(sizes)] += 1
    return sizes
