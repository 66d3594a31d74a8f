"""CIFAR-10 from the standard python archive, as in the 2023 challenge's starting kit.

Source: `cifar-10-python.tar.gz` or its extracted folder `cifar-10-batches-py`, found in the data
folder (`--data-dir`, or $UNLEARN_HARNESS_DATA). Every file is md5-verified before it is read: the
archive against its published md5, extracted batch files against the md5s a manifest recorded (or
the published ones). Where neither copy exists and the network allows, torchvision downloads the
archive. Images are normalized with the starting kit's mean and std and given as [N, 3, 32, 32].

Split: train is the official 50,000 training images; the official 10,000 test images are split
into test and validation with torch.utils.data.random_split([test, val], seeded generator), the
kit's exact call (so seed 42 and 0.5/0.5 reproduce the kit's split).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from harness.config.competition import SplitSettings
from harness.data.examples import Examples, SplitAssignment, md5_bytes, md5_rows
from harness.errors import DataError

ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
# The published md5s (the same ones torchvision checks).
PUBLISHED_MD5: dict[str, str] = {
    ARCHIVE_NAME: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    TEST_BATCH: "40351d587109b95175f43aff81a1287e",
    META_FILE: "5ff9c542aee3614f3951f8cda6e48888",
}
# The starting kit's transforms.Normalize constants.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
IMAGE_SHAPE = (3, 32, 32)


def where_to_put_it(data_dir: Path | None) -> str:
    target = str(data_dir) if data_dir else "a folder passed with --data-dir (or $UNLEARN_HARNESS_DATA)"
    return (
        f"put {ARCHIVE_NAME} (from {URL}, md5 {PUBLISHED_MD5[ARCHIVE_NAME]}) or its extracted folder "
        f"{FOLDER_NAME}/ into {target}"
    )


def locate(data_dir: Path | None, *, download: bool, download_dir: Path | None) -> Path:
    """The extracted folder or the archive in `data_dir` (or an earlier download); else download it; else DataError."""
    folders = [folder for folder in (data_dir, download_dir) if folder is not None]
    candidates = [
        path
        for folder in folders
        for path in (folder, folder / FOLDER_NAME, folder / ARCHIVE_NAME, folder / "cifar10" / FOLDER_NAME, folder / "cifar10" / ARCHIVE_NAME)
    ]
    for candidate in candidates:
        if candidate.is_dir() and candidate.name == FOLDER_NAME:
            return candidate
        if candidate.is_file() and candidate.name == ARCHIVE_NAME:
            return candidate
    searched = ", ".join(str(folder / FOLDER_NAME) + " and " + ARCHIVE_NAME for folder in folders) or "nowhere"
    if not download:
        raise DataError(f"CIFAR-10 not found (looked for {searched}); {where_to_put_it(data_dir)}")
    target_dir = data_dir or download_dir
    if target_dir is None:
        raise DataError(f"CIFAR-10 not found and no folder to download it into; {where_to_put_it(data_dir)}")
    return _download(target_dir, searched, data_dir)


def _download(target_dir: Path, searched: str, data_dir: Path | None) -> Path:
    from torchvision.datasets.utils import download_url

    try:
        download_url(URL, str(target_dir), filename=ARCHIVE_NAME, md5=PUBLISHED_MD5[ARCHIVE_NAME])
    except Exception as error:  # no network, proxy refusal, partial download: all mean "bring the file"
        raise DataError(
            f"CIFAR-10 not found (looked for {searched}) and downloading {URL} into {target_dir} failed "
            f"({type(error).__name__}: {error}); {where_to_put_it(data_dir)}"
        ) from None
    return target_dir / ARCHIVE_NAME


def read_examples(location: Path, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    """Read and verify CIFAR-10 at `location` (the archive or the extracted folder).

    `expected_md5` maps file names (the archive's, or batch file names) to md5s; files it does not
    name are not checked. Defaults to the published md5s.
    """
    expected = PUBLISHED_MD5 if expected_md5 is None else dict(expected_md5)
    if location.is_file():
        files, archive_md5 = _read_archive(location, expected)
        source_md5 = {ARCHIVE_NAME: archive_md5}
    else:
        files, source_md5 = _read_folder(location, expected), {}
    source_md5.update({name: md5_bytes(data) for name, data in files.items()})
    train = [_unpickle(files[name], location, name) for name in TRAIN_BATCHES]
    test = _unpickle(files[TEST_BATCH], location, TEST_BATCH)
    _unpickle(files[META_FILE], location, META_FILE)  # present and well-formed, like the real archive
    pixels, labels, origin, ids = [], [], [], []
    for origin_name, batches in (("train", train), ("test", [test])):
        start = 0
        for batch in batches:
            batch_pixels, batch_labels = _batch_arrays(batch, location)
            pixels.append(batch_pixels)
            labels.append(batch_labels)
            ids.extend(f"{origin_name}-{start + offset:05d}" for offset in range(len(batch_labels)))
            origin.extend([origin_name] * len(batch_labels))
            start += len(batch_labels)
    raw = np.concatenate(pixels)
    images = torch.from_numpy(raw).reshape(-1, *IMAGE_SHAPE).to(torch.float32).div_(255.0)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    return Examples(
        ids=np.array(ids, dtype=str),
        labels=np.concatenate(labels).astype(np.int64),
        groups=None,
        origin=np.array(origin, dtype=str),
        content_md5=md5_rows(raw),
        images=images.sub_(mean).div_(std).contiguous(),
        source_md5=source_md5,
    )


def _check_md5(data: bytes, name: str, path: Path, expected: Mapping[str, str], data_dir: Path) -> None:
    if name in expected and md5_bytes(data) != expected[name]:
        raise DataError(
            f"{path}: md5 {md5_bytes(data)} does not match the expected {expected[name]} for {name}; "
            f"the file is corrupt or not the standard CIFAR-10 python version: replace it "
            f"({where_to_put_it(data_dir)})"
        )


def _read_archive(path: Path, expected: Mapping[str, str]) -> tuple[dict[str, bytes], str]:
    """The batch files inside the archive, and the archive's md5."""
    data = path.read_bytes()
    _check_md5(data, ARCHIVE_NAME, path, expected, path.parent)
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for name in BATCH_FILES:
                try:
                    member = archive.extractfile(f"{FOLDER_NAME}/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise DataError(f"{path}: the archive has no {FOLDER_NAME}/{name}; {where_to_put_it(path.parent)}")
                files[name] = member.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable tar.gz archive ({error}); {where_to_put_it(path.parent)}") from None
    for name, content in files.items():
        _check_md5(content, name, path, expected, path.parent)
    return files, md5_bytes(data)


def _read_folder(folder: Path, expected: Mapping[str, str]) -> dict[str, bytes]:
    files = {}
    for name in BATCH_FILES:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing CIFAR-10 batch file; {where_to_put_it(folder.parent)}")
        files[name] = path.read_bytes()
        _check_md5(files[name], name, path, expected, folder.parent)
    return files


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles: allow only what they contain (dicts, lists, bytes, NumPy arrays)."""

    ALLOWED = {
        ("_codecs", "encode"),  # how Python 3's protocol-2 pickles spell bytes
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _unpickle(data: bytes, location: Path, name: str) -> dict:
    try:
        batch = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:
        raise DataError(f"{location}: {name} is not a CIFAR-10 python batch ({error})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{location}: {name} is not a CIFAR-10 python batch (expected a dict)")
    return batch


def _batch_arrays(batch: dict, location: Path) -> tuple[np.ndarray, np.ndarray]:
    name = batch.get(b"batch_label", b"?")
    try:
        pixels = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except KeyError as error:
        raise DataError(f"{location}: batch {name!r} has no {error.args[0]!r} entry") from None
    if pixels.ndim != 2 or pixels.shape[1] != int(np.prod(IMAGE_SHAPE)) or len(labels) != len(pixels):
        raise DataError(f"{location}: batch {name!r} has data of shape {pixels.shape} and {len(labels)} labels; expected [N, 3072] and N labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{location}: batch {name!r} has labels outside 0..9")
    return pixels, labels


def assign_splits(examples: Examples, settings: SplitSettings) -> SplitAssignment:
    """Train = the official training images; held-out test images -> random_split([test, val])."""
    train_rows = np.flatnonzero(examples.origin == "train")
    held_out = np.flatnonzero(examples.origin == "test")
    generator = torch.Generator().manual_seed(settings.seed)
    test_part, val_part = torch.utils.data.random_split(
        range(len(held_out)), [settings.test, settings.val], generator=generator
    )
    return SplitAssignment.from_parts(
        [
            ("train", train_rows),
            ("val", held_out[np.asarray(val_part.indices, dtype=np.int64)]),
            ("test", held_out[np.asarray(test_part.indices, dtype=np.int64)]),
        ]
    )
