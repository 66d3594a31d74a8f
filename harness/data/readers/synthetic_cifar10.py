"""CIFAR-10-shaped data made on the spot (no download, no files): for benchmarks and GPU checks.

Where the CIFAR-10 archive cannot be had (a machine without network access, a CI runner), this
gives the same shapes, sizes and split layout: 32x32 RGB images, 10 classes, 50,000 "train" and
10,000 held-out "test" images split into test and validation exactly as harness.data.readers.cifar10
splits the real ones. Each class has a fixed random low-frequency pattern and every image is its
class's pattern plus noise, so models learn it (unlike random labels) and accuracies mean
something. Seeded, so every machine makes the same examples; normalised with CIFAR-10's mean and
std. `synthetic_cifar10_small` (harness.data.readers.synthetic_cifar10_small) is the same at 1/250
of the size, for dry runs on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from harness.data.examples import Examples, md5_rows
from harness.data.readers.cifar10 import IMAGE_SHAPE, MEAN, STD
from harness.data.readers.cifar10 import assign_splits as assign_splits  # same split rule as the real data

N_TRAIN, N_HELD_OUT = 50_000, 10_000
SEED = 20230  # fixed: the data is part of what a manifest and a pool are keyed by
NOISE = 48.0  # pixel noise (0..255 scale) around a class pattern


def read_examples(location: Path | None = None, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    """Every synthetic example at CIFAR-10's sizes (`location` and `expected_md5` are not used)."""
    return synthetic_examples(N_TRAIN, N_HELD_OUT, prefix="synthetic")


def synthetic_examples(n_train: int, n_held_out: int, *, prefix: str) -> Examples:
    """`n_train` "train" and `n_held_out` "test" examples, balanced over the 10 classes, ids `<prefix>-train-00000`..."""
    rng = np.random.default_rng(SEED)
    n = n_train + n_held_out
    labels = np.concatenate([np.arange(n_train) % 10, np.arange(n_held_out) % 10]).astype(np.int64)
    rng.shuffle(labels[:n_train])
    rng.shuffle(labels[n_train:])
    # Low-frequency class patterns: 8x8 random colours upsampled to 32x32.
    coarse = rng.uniform(40, 215, size=(10, 3, 8, 8)).astype(np.float32)
    patterns = coarse.repeat(4, axis=2).repeat(4, axis=3)
    pixels = np.empty((n, *IMAGE_SHAPE), dtype=np.uint8)
    for start in range(0, n, 10_000):  # in chunks: the noise of all 60,000 at once would be 740 MB
        stop = min(start + 10_000, n)
        noisy = rng.standard_normal(size=(stop - start, *IMAGE_SHAPE), dtype=np.float32)
        noisy *= NOISE
        noisy += patterns[labels[start:stop]]
        pixels[start:stop] = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
    images = torch.from_numpy(pixels).to(torch.float32).div_(255.0)
    images.sub_(torch.tensor(MEAN).view(1, 3, 1, 1)).div_(torch.tensor(STD).view(1, 3, 1, 1))
    origin = np.array(["train"] * n_train + ["test"] * n_held_out, dtype=str)
    ids = np.array([f"{prefix}-train-{i:05d}" for i in range(n_train)] + [f"{prefix}-test-{i:05d}" for i in range(n_held_out)], dtype=str)
    return Examples(
        ids=ids,
        labels=labels,
        groups=None,
        origin=origin,
        content_md5=md5_rows(pixels.reshape(n, -1)),
        images=images.contiguous(),
    )
