"""What each dataset is, without importing torch: competitions validate against this table.

The loaders themselves live in one module per dataset (harness.data.<name>) and are imported
only when data is actually loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    module: str  # harness.data.<module> provides read_examples() and assign_splits()
    num_classes: int
    in_channels: int
    has_groups: bool
    needs_files: bool  # False when the data ships with an installed package (no data_dir needed)
    # The [split] fractions this dataset reads; they must add up to 1 (see each module's assign_splits).
    split_keys: tuple[str, ...] = ("train", "val", "test")
    # Records every example's age and person id, so it can serve the 2023 dict batches (kaggle_dict).
    has_kaggle_fields: bool = False


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "digits", num_classes=10, in_channels=1, has_groups=False, needs_files=False),
    "cifar10": DatasetInfo(
        "cifar10", "cifar10", num_classes=10, in_channels=3, has_groups=False, needs_files=True,
        split_keys=("val", "test"),  # fractions of the official 10k test images; train is the official 50k
    ),
    "surf": DatasetInfo("surf", "surf", num_classes=10, in_channels=3, has_groups=True, needs_files=True, has_kaggle_fields=True),
    "digits_kaggle": DatasetInfo(
        "digits_kaggle", "digits_kaggle", num_classes=10, in_channels=3, has_groups=True, needs_files=False, has_kaggle_fields=True
    ),
    # CIFAR-10's shapes, sizes and split without the archive: benchmarks and GPU checks (benchmarks/gpu_suite.sh).
    "synthetic_cifar10": DatasetInfo(
        "synthetic_cifar10", "synthetic_cifar10", num_classes=10, in_channels=3, has_groups=False, needs_files=False,
        split_keys=("val", "test"),
    ),
    "synthetic_cifar10_small": DatasetInfo(
        "synthetic_cifar10_small", "synthetic_cifar10_small", num_classes=10, in_channels=3, has_groups=False,
        needs_files=False, split_keys=("val", "test"),
    ),
}
