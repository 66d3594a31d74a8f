"""CASIA-SURF live colour frames with age-group labels: the 2023 challenge's hidden dataset.

Layout of the data folder (`--data-dir`, or $UNLEARN_HARNESS_DATA), as the challenge's reference
code (google-deepmind/unlearning_evaluation, surf.py) reads it:

    Age_Gender.txt     one line per person: "<person id> <age> <gender>", space separated
    WBackground/<session>/<person id>/real.rssdk/color/<frame>.jpg
                       the live colour frames; either extracted, or inside a .zip file in the data
                       folder (the WBackground/ tree may sit under one top folder inside the zip)

Reading follows the reference code: people in sorted folder order, frames sorted, each frame decoded
as RGB and resized to 32x32 (antialiased, as torchvision's Resize), kept as raw 0..255 float32; the
label is the person's age in 10 equal-width bins over [min age, max age + 1] of Age_Gender.txt.
Frames of people missing from Age_Gender.txt are skipped. The group of a frame is its person id.
For the 2023 dict batches every frame also records the person's age (Age_Gender.txt) and person
number: the position of the person id among the sorted ids of Age_Gender.txt, which is the
reference code's integer person id (the one its LeavePGroupsOut split grouped by).

Split: all frames shuffled with random.Random(seed) (43 in the challenge) and cut 80/10/10 into
train/val/test with the reference code's int(fraction * n) boundaries.
"""

from __future__ import annotations

import random
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping

import numpy as np
import torch

from harness.config.competition import SplitSettings
from harness.data.examples import Examples, SplitAssignment, md5_bytes, md5_file
from harness.errors import DataError
from harness.utils.progress import progress

LABELS_FILE = "Age_Gender.txt"
FRAMES_FOLDER = "WBackground"
IMAGE_SIZE = 32
N_AGE_BINS = 10
# <session>/<person>/real.rssdk/color/<frame>.jpg under WBackground/
_FRAME_PATH = re.compile(r"^([^/]+)/([^/]+)/real\.rssdk/color/([^/]+\.jpg)$")


@dataclass(frozen=True)
class _Person:
    age: int
    age_group: int
    number: int  # position among the sorted person ids of Age_Gender.txt


@dataclass(frozen=True)
class _Frame:
    session: str
    person: str
    name: str
    read: Callable[[], bytes]

    @property
    def id(self) -> str:
        return f"{self.session}/{self.person}/{self.name}"


def layout_help(data_dir: Path | None) -> str:
    target = str(data_dir) if data_dir else "a folder passed with --data-dir (or $UNLEARN_HARNESS_DATA)"
    return (
        f"put {LABELS_FILE} and the live colour frames ({FRAMES_FOLDER}/<session>/<person>/real.rssdk/color/*.jpg, "
        f"extracted or as a .zip) into {target}; see data_manifests/README.md"
    )


def locate(data_dir: Path | None, *, download: bool = False, download_dir: Path | None = None) -> Path:
    """The data folder holding Age_Gender.txt (the SURF data cannot be downloaded)."""
    if data_dir is None:
        raise DataError(f"the SURF data is not public and no data folder was given; {layout_help(None)}")
    if not (data_dir / LABELS_FILE).is_file():
        raise DataError(f"{data_dir / LABELS_FILE}: missing; {layout_help(data_dir)}")
    return data_dir


def read_examples(location: Path, *, expected_md5: Mapping[str, str] | None = None) -> Examples:
    """Read every labelled frame under `location`; `expected_md5` (file name -> md5) is checked if given."""
    labels_path = location / LABELS_FILE
    source_md5 = {LABELS_FILE: md5_file(labels_path)}
    people = _read_people(labels_path)
    frames, archive = _find_frames(location)
    if archive is not None:
        source_md5[archive.name] = md5_file(archive)
    for name, md5 in (expected_md5 or {}).items():
        if name in source_md5 and source_md5[name] != md5:
            raise DataError(f"{location / name}: md5 {source_md5[name]} does not match the expected {md5}; {layout_help(location)}")
    frames = sorted((f for f in frames if f.person in people), key=lambda f: (f.session, f.person, f.name))
    if not frames:
        raise DataError(f"{location}: no frames of people listed in {LABELS_FILE}; {layout_help(location)}")
    images, content_md5 = [], []
    for frame in progress(frames, desc="decoding SURF frames", unit="frame"):
        data = frame.read()
        content_md5.append(md5_bytes(data))
        images.append(_decode(data, frame.id, location))
    people_of_frames = [people[frame.person] for frame in frames]
    return Examples(
        ids=np.array([frame.id for frame in frames], dtype=str),
        labels=np.array([person.age_group for person in people_of_frames], dtype=np.int64),
        groups=np.array([frame.person for frame in frames], dtype=str),
        origin=np.full(len(frames), "all", dtype=str),
        content_md5=np.array(content_md5, dtype=str),
        images=torch.stack(images).to(torch.float32).contiguous(),
        source_md5=source_md5,
        ages=np.array([person.age for person in people_of_frames], dtype=np.int64),
        person_ids=np.array([person.number for person in people_of_frames], dtype=np.int64),
    )


def age_groups(ages: np.ndarray) -> np.ndarray:
    """10 equal-width bins over [min, max + 1], zero-based (the reference code's np.digitize rule)."""
    edges = np.linspace(np.min(ages), np.max(ages) + 1, N_AGE_BINS + 1)
    return np.digitize(ages, edges) - 1


def _read_people(path: Path) -> dict[str, _Person]:
    ids, ages = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[1].lstrip("-").isdigit():
            raise DataError(f"{path}:{number}: expected '<person id> <age> <gender>', got {line!r}")
        ids.append(fields[0])
        ages.append(int(fields[1]))
    if len(set(ids)) != len(ids):
        duplicated = sorted({person for person in ids if ids.count(person) > 1})
        raise DataError(f"{path}: person ids listed more than once: {', '.join(duplicated[:5])}")
    if not ids:
        raise DataError(f"{path}: no people listed")
    numbers = {person: number for number, person in enumerate(sorted(ids))}
    return {
        person: _Person(age=age, age_group=group, number=numbers[person])
        for person, age, group in zip(ids, ages, age_groups(np.array(ages)).tolist())
    }


def _find_frames(location: Path) -> tuple[list[_Frame], Path | None]:
    folder = location / FRAMES_FOLDER
    if folder.is_dir():
        frames = []
        for path in folder.glob("*/*/real.rssdk/color/*.jpg"):
            relative = path.relative_to(folder).as_posix()
            match = _FRAME_PATH.match(relative)
            if match and not any(part.startswith(".") for part in match.groups()):
                frames.append(_Frame(*match.groups(), read=path.read_bytes))
        return frames, None
    for archive in sorted(location.glob("*.zip")):
        frames = _frames_in_zip(archive)
        if frames:
            return frames, archive
    raise DataError(f"{location}: no {FRAMES_FOLDER}/ folder and no .zip holding {FRAMES_FOLDER}/; {layout_help(location)}")


def _frames_in_zip(archive: Path) -> list[_Frame]:
    try:
        handle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise DataError(f"{archive}: not a readable zip file ({error})") from None
    frames = []
    for name in handle.namelist():
        parts = PurePosixPath(name).parts
        if FRAMES_FOLDER not in parts or "__MACOSX" in parts:
            continue
        relative = "/".join(parts[parts.index(FRAMES_FOLDER) + 1 :])
        match = _FRAME_PATH.match(relative)
        if match and not any(part.startswith(".") for part in match.groups()):
            frames.append(_Frame(*match.groups(), read=lambda member=name: handle.read(member)))
    return frames


def _decode(data: bytes, frame_id: str, location: Path) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.functional import resize

    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders; they are still the reference code's decoder.
            warnings.simplefilter("ignore", DeprecationWarning)
            image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except RuntimeError as error:
        raise DataError(f"{location}: frame {frame_id} is not a readable JPEG ({error})") from None
    return resize(image, [IMAGE_SIZE, IMAGE_SIZE], antialias=True)


def assign_splits(examples: Examples, settings: SplitSettings) -> SplitAssignment:
    """random.Random(seed).shuffle of all frames, then [:int(train n)], [..:int((train+val) n)], rest."""
    order = list(range(len(examples)))
    random.Random(settings.seed).shuffle(order)
    n = len(order)
    # round() makes 0.8 + 0.1 the same float as the literal 0.9 of the reference code.
    train_end = int(settings.train * n)
    val_end = int(round(settings.train + settings.val, 12) * n)
    rows = np.array(order, dtype=np.int64)
    return SplitAssignment.from_parts([("train", rows[:train_end]), ("val", rows[train_end:val_end]), ("test", rows[val_end:])])
