"""Split manifests: which example is in train/val/test and which is forgotten, fixed in a Parquet file.

One manifest per (competition, phase): rows in manifest order with columns `id`, `split`
("train"/"val"/"test"), `forget` (bool), `label`, `group` (null where a dataset has none) and
`content_md5` (a fingerprint of each example's source bytes). The Parquet metadata (key
`unlearning_harness`) records the dataset checksum, the md5 of every source file read, and the
settings that produced the split, so loading can verify the data and the configuration against it.

Shipped manifests live in data_manifests/<competition>.<phase>.parquet. A competition without a
shipped manifest (its data is not redistributable, or it is a local configuration) gets one generated
from the verified data on first load and cached under <cache>/manifests/; `unlearn-harness manifest
--write` turns a cached manifest into a shipped one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_manifests import MANIFEST_DIR
from harness.utils.cache import cache_root
from harness.utils.files import atomic_write
from harness.config.competition import Competition
from harness.errors import DataError

if TYPE_CHECKING:
    from harness.data.examples import Examples

FORMAT_VERSION = 1
METADATA_KEY = b"unlearning_harness"
SPLITS = ("train", "val", "test")  # the manifest's `split` column; train = retain + forget


@dataclass(frozen=True)
class Manifest:
    """The split of one competition phase, in manifest order."""

    competition: str
    phase: str
    dataset: str
    ids: np.ndarray  # str
    split: np.ndarray  # str: train / val / test
    forget: np.ndarray  # bool; only training rows can be True
    labels: np.ndarray  # int64
    groups: np.ndarray | None  # str, or None for datasets without groups
    content_md5: np.ndarray  # str
    dataset_checksum: str
    source_md5: dict[str, str]
    spec: dict[str, Any]  # the settings that produced this split (see split_spec)
    path: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, part: str) -> np.ndarray:
        """Row indices of `part`: "train", "val", "test", "retain" (train, not forgotten) or "forget"."""
        if part == "retain":
            return np.flatnonzero((self.split == "train") & ~self.forget)
        if part == "forget":
            return np.flatnonzero((self.split == "train") & self.forget)
        if part not in SPLITS:
            raise ValueError(f"unknown part {part!r}; use one of {', '.join((*SPLITS, 'retain', 'forget'))}")
        return np.flatnonzero(self.split == part)

    @property
    def forget_ids(self) -> np.ndarray:
        return self.ids[self.rows("forget")]

    @property
    def checksum(self) -> str:
        """sha256 of everything that defines the split: rows, dataset checksum and settings."""
        digest = hashlib.sha256()
        digest.update(json.dumps({"dataset_checksum": self.dataset_checksum, "spec": self.spec}, sort_keys=True).encode())
        groups = self.groups if self.groups is not None else np.full(len(self.ids), "")
        for row in zip(self.ids, self.split, self.forget, self.labels, groups):
            digest.update(("\t".join(str(value) for value in row) + "\n").encode())
        return "sha256:" + digest.hexdigest()

    def describe(self) -> str:
        sizes = ", ".join(f"{part} {len(self.rows(part))}" for part in ("retain", "forget", "val", "test"))
        return f"{self.competition} ({self.phase}): {sizes}"


def split_spec(competition: Competition, phase: str) -> dict[str, Any]:
    """The configuration a split depends on; a manifest made under other settings is stale."""
    phase_settings = competition.phase(phase)
    forget = asdict(competition.forget)
    if competition.forget.kind == "class":
        forget["class_index"] = competition.forget_class(phase)
    return {
        "format": FORMAT_VERSION,
        "dataset": competition.dataset,
        "split": asdict(competition.split),
        "forget": forget,
        "forget_seed": phase_settings.forget_seed,
    }


def build_manifest(competition: Competition, phase: str, examples: "Examples") -> Manifest:
    """Apply the competition's split and forget rule to `examples`."""
    from harness.data.readers import dataset_reader
    from harness.data.forget import forget_mask

    assignment = dataset_reader(competition.dataset).assign_splits(examples, competition.split)
    rows = assignment.rows
    train = assignment.split == "train"
    groups = examples.groups[rows] if examples.groups is not None else None
    forget = np.zeros(len(rows), dtype=bool)
    forget[train] = forget_mask(competition, phase, examples.labels[rows][train], groups[train] if groups is not None else None)
    return Manifest(
        competition=competition.name,
        phase=phase,
        dataset=competition.dataset,
        ids=examples.ids[rows],
        split=assignment.split,
        forget=forget,
        labels=examples.labels[rows].astype(np.int64),
        groups=groups,
        content_md5=examples.content_md5[rows],
        dataset_checksum=examples.checksum,
        source_md5=dict(examples.source_md5),
        spec=split_spec(competition, phase),
    )


def write_manifest(manifest: Manifest, path: Path) -> None:
    """Write atomically (a reader never sees half a manifest)."""
    table = pa.table(
        {
            "id": pa.array(manifest.ids.tolist(), pa.string()),
            "split": pa.array(manifest.split.tolist(), pa.string()),
            "forget": pa.array(manifest.forget.tolist(), pa.bool_()),
            "label": pa.array(manifest.labels.tolist(), pa.int64()),
            "group": pa.array(manifest.groups.tolist() if manifest.groups is not None else [None] * len(manifest), pa.string()),
            "content_md5": pa.array(manifest.content_md5.tolist(), pa.string()),
        }
    )
    metadata = {
        "format": FORMAT_VERSION,
        "competition": manifest.competition,
        "phase": manifest.phase,
        "dataset": manifest.dataset,
        "dataset_checksum": manifest.dataset_checksum,
        "manifest_checksum": manifest.checksum,
        "source_md5": manifest.source_md5,
        "spec": manifest.spec,
    }
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
    atomic_write(Path(path), lambda temp: pq.write_table(table, temp, compression="zstd"))


def read_manifest(path: Path) -> Manifest:
    """Read a manifest file; DataError if it is missing, unreadable or inconsistent."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found") from None
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet manifest ({error}); regenerate it with `unlearn-harness manifest --write`") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    expected_columns = {"id", "split", "forget", "label", "group", "content_md5"}
    if raw is None or not expected_columns <= set(table.column_names):
        raise DataError(f"{path}: not a split manifest of this harness (missing metadata or columns)")
    meta = json.loads(raw)
    columns = table.to_pydict()
    groups = None if all(group is None for group in columns["group"]) else np.array(columns["group"], dtype=str)
    manifest = Manifest(
        competition=meta["competition"],
        phase=meta["phase"],
        dataset=meta["dataset"],
        ids=np.array(columns["id"], dtype=str),
        split=np.array(columns["split"], dtype=str),
        forget=np.array(columns["forget"], dtype=bool),
        labels=np.array(columns["label"], dtype=np.int64),
        groups=groups,
        content_md5=np.array(columns["content_md5"], dtype=str),
        dataset_checksum=meta["dataset_checksum"],
        source_md5=meta["source_md5"],
        spec=meta["spec"],
        path=path,
    )
    if manifest.checksum != meta.get("manifest_checksum"):
        raise DataError(f"{path}: the manifest's rows do not match its recorded checksum (edited or corrupt); restore it from the repository or regenerate it")
    return manifest


def shipped_manifest_path(competition_name: str, phase: str) -> Path:
    return MANIFEST_DIR / f"{competition_name}.{phase}.parquet"


def cached_manifest_path(competition: Competition, phase: str, cache_dir: str | Path | None = None) -> Path:
    spec_hash = hashlib.sha256(json.dumps(split_spec(competition, phase), sort_keys=True).encode()).hexdigest()[:12]
    return cache_root(cache_dir) / "manifests" / f"{competition.name}.{phase}.{spec_hash}.parquet"


def find_manifest(competition: Competition, phase: str, cache_dir: str | Path | None = None) -> Manifest | None:
    """The shipped manifest of this competition phase, else a cached one, else None.

    A shipped manifest made under different split settings is an error, not something to ignore:
    the competition's name promises that split.
    """
    shipped = shipped_manifest_path(competition.name, phase)
    if shipped.is_file():
        manifest = read_manifest(shipped)
        check_spec(manifest, competition, phase)
        return manifest
    cached = cached_manifest_path(competition, phase, cache_dir)
    if cached.is_file():
        manifest = read_manifest(cached)
        check_spec(manifest, competition, phase)
        return manifest
    return None


def check_spec(manifest: Manifest, competition: Competition, phase: str) -> None:
    expected = split_spec(competition, phase)
    if manifest.spec != expected:
        changed = sorted(key for key in set(expected) | set(manifest.spec) if expected.get(key) != manifest.spec.get(key))
        raise DataError(
            f"{manifest.path}: this manifest was made with other split settings ({', '.join(changed)} differ) than "
            f"competition {competition.name!r} now declares in {competition.source}; restore the competition file, give a "
            f"changed competition a new name, or regenerate with `unlearn-harness manifest --competition {competition.name} "
            f"--phase {phase} --write`"
        )


def verify_examples(manifest: Manifest, examples: "Examples", data_location: Path | str) -> None:
    """DataError naming the differing examples when the data is not the data the manifest was made from."""
    if examples.checksum == manifest.dataset_checksum:
        return
    position = {example_id: index for index, example_id in enumerate(examples.ids.tolist())}
    missing = [example_id for example_id in manifest.ids.tolist() if example_id not in position]
    problems = []
    if missing:
        problems.append(f"{len(missing)} manifest examples missing from the data (e.g. {', '.join(missing[:3])})")
    extra = len(examples) - (len(manifest) - len(missing))
    if extra > 0:
        problems.append(f"{extra} examples in the data but not in the manifest")
    present = [index for index, example_id in enumerate(manifest.ids.tolist()) if example_id in position]
    data_rows = np.array([position[manifest.ids[index]] for index in present], dtype=np.int64)
    present = np.array(present, dtype=np.int64)
    if len(present):
        label_diff = manifest.ids[present][examples.labels[data_rows] != manifest.labels[present]]
        content_diff = manifest.ids[present][examples.content_md5[data_rows] != manifest.content_md5[present]]
        if len(label_diff):
            problems.append(f"{len(label_diff)} labels differ (e.g. {', '.join(label_diff[:3])})")
        if len(content_diff):
            problems.append(f"{len(content_diff)} examples have different content (e.g. {', '.join(content_diff[:3])})")
    detail = "; ".join(problems) or "groups differ"
    raise DataError(
        f"the data at {data_location} does not match the manifest {manifest.path} ({detail}); use the original "
        f"dataset files, or if the dataset changed on purpose regenerate the manifest with "
        f"`unlearn-harness manifest --competition {manifest.competition} --phase {manifest.phase} --write`"
    )
