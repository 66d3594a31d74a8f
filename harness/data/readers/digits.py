"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): no download, no files.

Images are scaled from 0..16 to [0, 1] and given as [N, 1, 8, 8]. The split is a seeded
permutation of all examples into train/val/test by the competition's fractions; within each split
examples keep the dataset's order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from harness.config.competition import SplitSettings
from harness.data.examples import Examples, SplitAssignment, fraction_sizes, md5_rows


def read_examples(location: Path | None = None, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    """All 1,797 digits in scikit-learn's order (`location` and `expected_md5` are not used)."""
    table = _bundled_table()
    pixels = np.asarray(table[:, :-1], dtype="<f8")  # 0..16 intensities, [N, 64]
    labels = table[:, -1].astype(np.int64)
    images = torch.from_numpy((pixels / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    n = len(labels)
    return Examples(
        ids=np.array([f"digit-{index:04d}" for index in range(n)], dtype=str),
        labels=labels,
        groups=None,
        origin=np.full(n, "all", dtype=str),
        content_md5=md5_rows(pixels),
        images=images.contiguous(),
    )


def _bundled_table() -> np.ndarray:
    """scikit-learn's digits.csv.gz (64 pixels, then the label, per row), read as load_digits reads it.

    Read from the installed package's folder without importing scikit-learn, which imports SciPy:
    most of a second in every worker process that loads the data. Falls back to load_digits
    where the file is not where scikit-learn keeps it.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(locations)), "datasets", "data", "digits.csv.gz") if locations else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.column_stack([bunch.data, bunch.target])
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return np.loadtxt(handle, delimiter=",")


def assign_splits(examples: Examples, settings: SplitSettings) -> SplitAssignment:
    """Seeded permutation cut into train/val/test; each part back in dataset order."""
    permutation = np.random.default_rng(settings.seed).permutation(len(examples))
    n_train, n_val, _ = fraction_sizes(len(examples), [settings.train, settings.val, settings.test])
    return SplitAssignment.from_parts(
        [
            ("train", np.sort(permutation[:n_train])),
            ("val", np.sort(permutation[n_train : n_train + n_val])),
            ("test", np.sort(permutation[n_train + n_val :])),
        ]
    )
