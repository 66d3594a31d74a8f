"""Dataset readers: one module per dataset, named in harness.config.datasets, each a `DatasetReader`.

A reader turns the dataset's source (an installed package's bundled data, an archive, a folder)
into `Examples` in the dataset's own canonical order, and cuts them into train/val/test by the
competition's [split] settings. It is imported only when data is loaded (`dataset_reader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

from harness.config.datasets import DATASETS

if TYPE_CHECKING:
    from harness.config.competition import SplitSettings
    from harness.data.examples import Examples, SplitAssignment


class DatasetReader(Protocol):
    """What every reader module provides. Readers of datasets that need files (`needs_files` in
    their registry entry) also provide `locate(data_dir, *, download, download_dir) -> Path`."""

    def read_examples(self, location: Path | None = None, *, expected_md5: Mapping[str, str] | None = None) -> "Examples":
        """Every example, verified against `expected_md5` (else the published md5s) where there are files."""

    def assign_splits(self, examples: "Examples", settings: "SplitSettings") -> "SplitAssignment":
        """Manifest order: which examples are train, val and test."""


def dataset_reader(name: str) -> DatasetReader:
    """The reader of dataset `name`, imported now (ConfigError naming the known datasets if unknown)."""
    return DATASETS.load(name)
