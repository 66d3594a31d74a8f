"""What each dataset is, without importing torch: competitions validate against this registry.

The readers themselves live in one module per dataset (harness.data.readers.<name>, each a
harness.data.readers.DatasetReader) and are imported only when data is actually loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.registry import Registry

READERS = "harness.data.readers"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    target: str  # the reader module (a harness.data.readers.DatasetReader)
    num_classes: int
    in_channels: int
    has_groups: bool
    needs_files: bool  # False when the data ships with an installed package (no data_dir needed)
    # The [split] fractions this dataset reads; they must add up to 1 (see each module's assign_splits).
    split_keys: tuple[str, ...] = ("train", "val", "test")
    # Records every example's age and person id, so it can serve the 2023 dict batches (kaggle_dict).
    has_kaggle_fields: bool = False


DATASETS: Registry[DatasetInfo] = Registry("dataset", [
    DatasetInfo("digits", f"{READERS}.digits", num_classes=10, in_channels=1, has_groups=False, needs_files=False),
    DatasetInfo(
        "cifar10", f"{READERS}.cifar10", num_classes=10, in_channels=3, has_groups=False, needs_files=True,
        split_keys=("val", "test"),  # fractions of the official 10k test images; train is the official 50k
    ),
    DatasetInfo(
        "surf", f"{READERS}.surf", num_classes=10, in_channels=3, has_groups=True, needs_files=True, has_kaggle_fields=True,
    ),
    DatasetInfo(
        "digits_kaggle", f"{READERS}.digits_kaggle", num_classes=10, in_channels=3, has_groups=True, needs_files=False,
        has_kaggle_fields=True,
    ),
    # CIFAR-10's shapes, sizes and split without the archive: benchmarks and GPU checks (benchmarks/gpu_suite.sh).
    DatasetInfo(
        "synthetic_cifar10", f"{READERS}.synthetic_cifar10", num_classes=10, in_channels=3, has_groups=False,
        needs_files=False, split_keys=("val", "test"),
    ),
    DatasetInfo(
        "synthetic_cifar10_small", f"{READERS}.synthetic_cifar10_small", num_classes=10, in_channels=3, has_groups=False,
        needs_files=False, split_keys=("val", "test"),
    ),
])
