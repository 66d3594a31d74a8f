"""harness.data.readers.synthetic_cifar10 at 1/250 of the size (200 train, 40 held out): dry runs on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from harness.data.examples import Examples
from harness.data.readers.synthetic_cifar10 import assign_splits as assign_splits
from harness.data.readers.synthetic_cifar10 import synthetic_examples

N_TRAIN, N_HELD_OUT = 200, 40


def read_examples(location: Path | None = None, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    return synthetic_examples(N_TRAIN, N_HELD_OUT, prefix="synthetic-small")
