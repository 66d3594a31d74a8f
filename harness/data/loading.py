"""Datasets of the shipped competitions, loaded in split-manifest order and verified against it.

`load_data(competition, phase)` is the one entry point: it reads the dataset (digits from
scikit-learn; CIFAR-10 and SURF from a data folder given as `data_dir`, or the environment variable
UNLEARN_HARNESS_DATA), finds the phase's manifest (shipped, or cached after a first load), checks
the data against it, and returns a `harness.data.CompetitionData`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from harness.config.datasets import DATASETS
from harness.data.readers import dataset_reader

if TYPE_CHECKING:
    from harness.config.competition import Competition
    from harness.data.splits import CompetitionData
    from harness.data.examples import Examples
    from harness.data.manifest import Manifest

DATA_ENV = "UNLEARN_HARNESS_DATA"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data folder: the argument, else $UNLEARN_HARNESS_DATA, else None."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return None


def read_dataset(
    competition: "Competition",
    data_dir: str | os.PathLike | None = None,
    *,
    manifest: "Manifest | None" = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    expected_md5: Mapping[str, str] | None = None,
) -> tuple["Examples", Path | str]:
    """Every example of the competition's dataset, verified file by file; also where it was read from.

    Source files are checked against `expected_md5` if given, else the md5s `manifest` recorded,
    else the dataset's published md5s.
    """
    from harness.utils.cache import cache_root

    module = dataset_reader(competition.dataset)
    if not DATASETS[competition.dataset].needs_files:
        return module.read_examples(), f"the {competition.dataset} dataset bundled with its package"
    folder = resolve_data_dir(data_dir)
    location = module.locate(folder, download=download, download_dir=cache_root(cache_dir) / "data")
    expected = expected_md5 if expected_md5 is not None else (manifest.source_md5 if manifest and manifest.source_md5 else None)
    return module.read_examples(location, expected_md5=expected), location


def load_data(
    competition: "Competition | str",
    phase: str = "public",
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    expected_md5: Mapping[str, str] | None = None,
) -> "CompetitionData":
    """Load a competition phase's data: retain/forget/val/test in manifest order, images model-ready.

    Raises DataError (naming the path and what to do) when the data is missing, fails its checksums,
    or differs from the phase's manifest. Without a manifest (first load of a dataset that is not
    shipped with one), one is generated from the verified data and cached under `cache_dir`.
    """
    from harness.config import load_competition
    from harness.data.manifest import build_manifest, cached_manifest_path, find_manifest, verify_examples, write_manifest

    competition = load_competition(competition)
    competition.phase(phase)  # fail on an unknown phase before reading any data
    manifest = find_manifest(competition, phase, cache_dir)
    examples, location = read_dataset(
        competition, data_dir, manifest=manifest, cache_dir=cache_dir, download=download, expected_md5=expected_md5
    )
    if manifest is None:
        manifest = build_manifest(competition, phase, examples)
        write_manifest(manifest, cached_manifest_path(competition, phase, cache_dir))
    else:
        verify_examples(manifest, examples, location)
    return assemble(manifest, examples, competition.num_classes)


def assemble(manifest: "Manifest", examples: "Examples", num_classes: int) -> "CompetitionData":
    """Cut verified examples into the manifest's retain/forget/val/test splits, in manifest order."""
    import numpy as np
    import torch

    from harness.data.splits import CompetitionData, Split

    position = {example_id: index for index, example_id in enumerate(examples.ids.tolist())}
    data_rows = np.array([position[example_id] for example_id in manifest.ids.tolist()], dtype=np.int64)

    def column(values: np.ndarray | None, rows: np.ndarray) -> torch.Tensor | None:
        return None if values is None else torch.from_numpy(np.asarray(values)[rows].astype(np.int64))

    def split(part: str) -> Split:
        rows = data_rows[manifest.rows(part)]
        index = torch.from_numpy(rows)
        return Split(
            images=examples.images.index_select(0, index).contiguous(),
            labels=column(examples.labels, rows),
            ids=examples.ids[rows],
            ages=column(examples.ages, rows),
            person_ids=column(examples.person_ids, rows),
        )

    return CompetitionData(
        retain=split("retain"),
        forget=split("forget"),
        val=split("val"),
        test=split("test"),
        num_classes=num_classes,
        checksum=manifest.dataset_checksum,
    )
