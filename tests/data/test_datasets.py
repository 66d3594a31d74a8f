"""Datasets: digits from scikit-learn, CIFAR-10 from an archive in the real format, SURF in the 2023 layout.

The CIFAR-10 and SURF archives are tiny synthetic ones the tests build in the real formats (the real
data cannot be downloaded here), so the tests pass in the expected checksums where they must.
"""

from __future__ import annotations

import io
import pickle
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.config import COMPETITIONS_DIR, load_competition
from harness.data import CompetitionData
from harness.data import DATA_ENV, load_data
from harness.data.examples import md5_file
from harness.data.readers.cifar10 import ARCHIVE_NAME, FOLDER_NAME, MEAN, STD
from harness.errors import DataError

torch.set_num_threads(1)


def _all_ids(data: CompetitionData) -> list[str]:
    return [*data.retain.ids, *data.forget.ids, *data.val.ids, *data.test.ids]


# --- digits ----------------------------------------------------------------------------------------


def test_digits_splits_are_disjoint_model_ready_and_in_manifest_order(tmp_path):
    from harness.data.manifest import find_manifest

    competition = load_competition("digits")
    data = load_data(competition, "public", cache_dir=tmp_path)
    ids = _all_ids(data)
    assert len(ids) == len(set(ids)) == 1797
    assert (len(data.retain) + len(data.forget), len(data.val), len(data.test)) == (1258, 180, 359)
    assert len(data.forget) == round(0.1 * 1258)
    for split in (data.retain, data.forget, data.val, data.test):
        assert split.images.dtype == torch.float32 and split.images.shape[1:] == (1, 8, 8)
        assert split.labels.dtype == torch.int64
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
    manifest = find_manifest(competition, "public")
    assert list(data.forget.ids) == list(manifest.forget_ids)
    assert list(data.retain.ids) == list(manifest.ids[manifest.rows("retain")])
    assert data.num_classes == 10 and data.in_channels == 1 and data.checksum == manifest.dataset_checksum
    assert not list(tmp_path.iterdir())  # the shipped manifest was used; nothing generated


def test_digits_images_and_labels_are_scikit_learns(tmp_path):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = load_data("digits", cache_dir=tmp_path)
    index = int(data.test.ids[0].split("-")[1])
    assert torch.equal(data.test.images[0, 0], torch.tensor(bunch.images[index] / 16.0, dtype=torch.float32))
    assert int(data.test.labels[0]) == bunch.target[index]


def test_phases_forget_different_examples_from_the_same_split(tmp_path):
    public = load_data("digits", "public", cache_dir=tmp_path)
    private = load_data("digits", "private", cache_dir=tmp_path)
    assert list(public.test.ids) == list(private.test.ids)
    assert set(public.forget.ids) != set(private.forget.ids)
    assert len(public.forget) == len(private.forget)


def test_class_forgetting_takes_every_training_image_of_the_class(tmp_path):
    data = load_data("digits-class", "public", cache_dir=tmp_path)
    assert set(data.forget.labels.tolist()) == {3}
    assert 3 not in set(data.retain.labels.tolist())
    assert 3 in set(data.test.labels.tolist())


# --- CIFAR-10, from a tiny archive in the real format -------------------------------------------------

PER_BATCH, TEST_SIZE = 20, 40


def _pickled_batch(rng: np.random.Generator, n: int, label: str) -> bytes:
    batch = {
        b"batch_label": label.encode(),
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{label}_{i}.png".encode() for i in range(n)],
    }
    return pickle.dumps(batch, protocol=2)


def _cifar_files(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    files = {f"data_batch_{i}": _pickled_batch(rng, PER_BATCH, f"training batch {i} of 5") for i in range(1, 6)}
    files["test_batch"] = _pickled_batch(rng, TEST_SIZE, "testing batch 1 of 1")
    files["batches.meta"] = pickle.dumps(
        {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"],
         b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072},
        protocol=2,
    )
    return files


def _write_archive(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"{FOLDER_NAME}/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def cifar_archive(tmp_path) -> Path:
    return _write_archive(tmp_path / "data", _cifar_files())


def _load_cifar(data_dir, cache_dir, **kwargs) -> CompetitionData:
    return load_data("cifar10", "public", data_dir, cache_dir=cache_dir, download=False, **kwargs)


def test_cifar10_from_the_archive_follows_the_starting_kit_split(cifar_archive, tmp_path):
    data = _load_cifar(cifar_archive.parent, tmp_path / "cache", expected_md5={ARCHIVE_NAME: md5_file(cifar_archive)})
    n_train = 5 * PER_BATCH
    assert len(data.retain) + len(data.forget) == n_train and len(data.forget) == round(0.1 * n_train)
    # The kit: test_set, val_set = random_split(held_out, [0.5, 0.5], generator=manual_seed(42)).
    test_part, val_part = torch.utils.data.random_split(range(TEST_SIZE), [0.5, 0.5], generator=torch.Generator().manual_seed(42))
    assert list(data.test.ids) == [f"test-{i:05d}" for i in test_part.indices]
    assert list(data.val.ids) == [f"test-{i:05d}" for i in val_part.indices]
    # Pixels and labels are the batch's, normalized with the kit's constants.
    raw = pickle.loads(_cifar_files()["data_batch_2"], encoding="bytes")
    position = list(data.retain.ids).index("train-00021") if "train-00021" in data.retain.ids else None
    split = data.retain if position is not None else data.forget
    position = position if position is not None else list(data.forget.ids).index("train-00021")
    expected = torch.from_numpy(raw[b"data"][1].reshape(3, 32, 32)).float() / 255
    expected = (expected - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    assert torch.allclose(split.images[position], expected)
    assert int(split.labels[position]) == raw[b"labels"][1]
    assert data.retain.images.shape[1:] == (3, 32, 32)
    assert list((tmp_path / "cache" / "manifests").glob("cifar10.public.*.parquet"))  # generated and cached


def test_cifar10_extracted_folder_is_verified_against_the_manifest(cifar_archive, tmp_path):
    cache = tmp_path / "cache"
    from_archive = _load_cifar(cifar_archive.parent, cache, expected_md5={ARCHIVE_NAME: md5_file(cifar_archive)})
    extracted = tmp_path / "extracted"
    with tarfile.open(cifar_archive) as archive:
        archive.extractall(extracted, filter="data")
    # No expected md5s passed: the batch files are checked against those the manifest recorded.
    from_folder = _load_cifar(extracted, cache)
    assert _all_ids(from_folder) == _all_ids(from_archive)
    assert torch.equal(from_folder.forget.images, from_archive.forget.images)

    batch = extracted / FOLDER_NAME / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DataError, match=rf"{batch}: md5 .* does not match the expected .* for data_batch_3"):
        _load_cifar(extracted, cache)


def test_cifar10_wrong_archive_checksum_names_the_file_and_what_to_do(cifar_archive, tmp_path):
    # The real archive's md5 is the default expectation; this tiny archive cannot match it.
    with pytest.raises(DataError) as error:
        _load_cifar(cifar_archive.parent, tmp_path / "cache")
    message = str(error.value)
    assert str(cifar_archive) in message and "c58f30108f718f92721af3b95e74349a" in message
    assert "cifar-10-python.tar.gz" in message and "put" in message


def test_cifar10_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"CIFAR-10 not found \(looked for {empty}/{FOLDER_NAME}.*put cifar-10-python.tar.gz .* into {empty}"):
        _load_cifar(empty, tmp_path / "cache")
    with pytest.raises(DataError, match=r"--data-dir \(or \$UNLEARN_HARNESS_DATA\)"):
        _load_cifar(None, tmp_path / "cache")


def test_cifar10_download_failure_says_where_to_put_the_file(tmp_path, monkeypatch):
    import torchvision.datasets.utils

    def offline(url, root, filename=None, md5=None):  # this machine has no internet: mock the network
        raise OSError("Network is unreachable")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(DataError, match=r"downloading https://www\.cs\.toronto\.edu/.* failed \(OSError: Network is unreachable\); put cifar-10-python"):
        load_data("cifar10", "public", cache_dir=tmp_path / "cache")


def test_cifar10_is_downloaded_into_the_cache_once(cifar_archive, tmp_path, monkeypatch):
    import torchvision.datasets.utils

    calls = []

    def fake_download(url, root, filename=None, md5=None):  # stands in for the network
        calls.append(url)
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / filename).write_bytes(cifar_archive.read_bytes())

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download)
    monkeypatch.delenv(DATA_ENV, raising=False)
    expected = {ARCHIVE_NAME: md5_file(cifar_archive)}
    first = load_data("cifar10", "public", cache_dir=tmp_path / "cache", expected_md5=expected)
    again = load_data("cifar10", "public", cache_dir=tmp_path / "cache", expected_md5=expected)
    assert len(calls) == 1 and (tmp_path / "cache" / "data" / ARCHIVE_NAME).is_file()
    assert _all_ids(first) == _all_ids(again)


def test_cifar10_missing_batch_file_names_the_path(cifar_archive, tmp_path):
    extracted = tmp_path / "extracted"
    with tarfile.open(cifar_archive) as archive:
        archive.extractall(extracted, filter="data")
    (extracted / FOLDER_NAME / "test_batch").unlink()
    with pytest.raises(DataError, match=rf"{extracted / FOLDER_NAME / 'test_batch'}: missing CIFAR-10 batch file"):
        _load_cifar(extracted, tmp_path / "cache", expected_md5={})


def test_cifar10_data_dir_comes_from_the_environment(cifar_archive, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(cifar_archive.parent))
    data = _load_cifar(None, tmp_path / "cache", expected_md5={ARCHIVE_NAME: md5_file(cifar_archive)})
    assert len(data.test) == TEST_SIZE // 2


def test_cifar10_data_that_differs_from_the_manifest_is_refused(cifar_archive, tmp_path):
    cache = tmp_path / "cache"
    _load_cifar(cifar_archive.parent, cache, expected_md5={ARCHIVE_NAME: md5_file(cifar_archive)})
    files = _cifar_files()
    batch = pickle.loads(files["data_batch_1"], encoding="bytes")
    batch[b"labels"][0] = (batch[b"labels"][0] + 1) % 10
    files["data_batch_1"] = pickle.dumps(batch, protocol=2)
    other = _write_archive(tmp_path / "other", files)
    with pytest.raises(DataError, match=r"does not match the manifest .*cifar10\.public.*1 labels differ \(e\.g\. train-00000\)"):
        _load_cifar(other.parent, cache, expected_md5={ARCHIVE_NAME: md5_file(other)})


def test_cifar10_batches_cannot_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    files = _cifar_files()
    files["data_batch_4"] = pickle.dumps({b"data": Exploit()}, protocol=2)
    archive = _write_archive(tmp_path / "data", files)
    with pytest.raises(DataError, match=r"data_batch_4 is not a CIFAR-10 python batch .*print is not allowed"):
        _load_cifar(archive.parent, tmp_path / "cache", expected_md5={ARCHIVE_NAME: md5_file(archive)})


# --- SURF, from a synthetic data folder in the 2023 layout --------------------------------------------
# torchvision 0.29 deprecates its image codecs, which the reference code (restated below) uses.
surf_codec_warnings = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

N_PEOPLE, FRAMES_PER_PERSON = 24, 3


def _surf_folder(root: Path, *, zipped: bool) -> Path:
    """Age_Gender.txt and WBackground/<session>/<person>/real.rssdk/color/*.jpg (or the same tree zipped)."""
    from torchvision.io import encode_jpeg

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    people = [f"{1000 + 7 * i:04d}" for i in range(N_PEOPLE)]
    ages = rng.integers(18, 70, N_PEOPLE)
    lines = [f"{person} {age} {'M' if i % 2 else 'F'}" for i, (person, age) in enumerate(zip(people, ages))]
    lines.append("9999 33 F")  # listed, but has no frames: fine
    (root / "Age_Gender.txt").write_text("\n".join(lines) + "\n")
    frames = {}
    for i, person in enumerate(people + ["8888"]):  # 8888 has frames but no label: skipped
        for frame in range(FRAMES_PER_PERSON):
            image = torch.from_numpy(rng.integers(0, 256, (3, 40, 48), dtype=np.uint8))
            frames[f"WBackground/session{i % 3}/{person}/real.rssdk/color/{frame:04d}.jpg"] = encode_jpeg(image).numpy().tobytes()
    if zipped:
        with zipfile.ZipFile(root / "live_color_frames.zip", "w") as archive:
            for name, data in frames.items():
                archive.writestr(f"SURF/{name}", data)
    else:
        for name, data in frames.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    return root


def _reference_surf(folder: Path):
    """The 2023 reference code's reading and split (surf.py), restated: the expected answer."""
    import glob

    import torchvision.transforms as T
    from sklearn.model_selection import LeavePGroupsOut
    from torchvision import io as tv_io

    labels_csv = np.loadtxt(folder / "Age_Gender.txt", dtype={"names": ("id", "age", "gender"), "formats": ("S11", "i4", "S1")}, delimiter=" ")
    users = np.array([u.decode() for u in np.unique(labels_csv["id"])])
    ages = np.array([a for _, a, _ in labels_csv])
    groups = np.digitize(ages, np.linspace(ages.min(), ages.max() + 1, 11)) - 1
    label_of = {row[0].decode(): int(g) for row, g in zip(labels_csv, groups)}
    age_of = {row[0].decode(): int(row[1]) for row in labels_csv}
    examples = []
    for f in sorted(glob.glob(str(folder / "WBackground" / "*" / "*"))):
        person = f.split("/")[-1]
        if person not in label_of:
            continue
        for path in sorted(glob.glob(str(Path(f) / "real.rssdk" / "color" / "*.jpg"))):
            image = T.Resize((32, 32))(tv_io.read_image(path))
            examples.append(
                {"image": image.float(), "id": int(np.where(person == users)[0][0]), "age_group": label_of[person], "age": age_of[person]}
            )
    random.Random(43).shuffle(examples)
    n = len(examples)
    train, val, test = examples[: int(0.8 * n)], examples[int(0.8 * n) : int(0.9 * n)], examples[int(0.9 * n) :]
    ids = np.array([e["id"] for e in train])
    retain_index, forget_index = next(LeavePGroupsOut(n_groups=15).split(np.arange(len(ids)).reshape(-1, 1), None, ids))
    return train, val, test, retain_index, forget_index


@surf_codec_warnings
def test_surf_reads_the_2023_layout_exactly_as_the_reference_code(tmp_path):
    folder = _surf_folder(tmp_path / "surf", zipped=False)
    data = load_data("surf", "public", folder, cache_dir=tmp_path / "cache")
    train, val, test, retain_index, forget_index = _reference_surf(folder)
    n = N_PEOPLE * FRAMES_PER_PERSON
    assert (len(data.retain) + len(data.forget), len(data.val), len(data.test)) == (int(0.8 * n), int(0.9 * n) - int(0.8 * n), n - int(0.9 * n))
    assert torch.equal(data.forget.images, torch.stack([train[i]["image"] for i in forget_index]))
    assert torch.equal(data.retain.images, torch.stack([train[i]["image"] for i in retain_index]))
    assert data.forget.labels.tolist() == [train[i]["age_group"] for i in forget_index]
    assert torch.equal(data.test.images, torch.stack([e["image"] for e in test]))
    assert torch.equal(data.val.images, torch.stack([e["image"] for e in val]))
    assert data.retain.images.dtype == torch.float32 and data.retain.images.max() > 1.0  # raw 0..255, not normalized
    forgotten_people = {i.split("/")[1] for i in data.forget.ids}
    assert len(forgotten_people) == 15
    assert not forgotten_people & {i.split("/")[1] for i in data.retain.ids}
    assert "8888" not in {i.split("/")[1] for i in _all_ids(data)}


@surf_codec_warnings
def test_surf_zip_gives_the_same_data_as_the_extracted_folder(tmp_path):
    extracted = load_data("surf", "public", _surf_folder(tmp_path / "a", zipped=False), cache_dir=tmp_path / "cache_a")
    zipped = load_data("surf", "public", _surf_folder(tmp_path / "b", zipped=True), cache_dir=tmp_path / "cache_b")
    assert _all_ids(zipped) == _all_ids(extracted)
    assert torch.equal(zipped.forget.images, extracted.forget.images)
    assert zipped.checksum == extracted.checksum


@surf_codec_warnings
def test_surf_missing_or_malformed_files_are_named(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'Age_Gender.txt'}: missing; put Age_Gender.txt"):
        load_data("surf", "public", tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "Age_Gender.txt").write_text("0001 30 M\n0002 thirty F\n")
    with pytest.raises(DataError, match=r"Age_Gender.txt:2: expected '<person id> <age> <gender>'"):
        load_data("surf", "public", tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "Age_Gender.txt").write_text("0001 30 M\n")
    with pytest.raises(DataError, match=r"no WBackground/ folder and no \.zip holding WBackground/"):
        load_data("surf", "public", tmp_path, cache_dir=tmp_path / "cache")


@surf_codec_warnings
def test_surf_forget_groups_need_enough_people(tmp_path):
    folder = _surf_folder(tmp_path / "surf", zipped=False)
    text = (COMPETITIONS_DIR / "surf.toml").read_text().replace("n_groups = 15", "n_groups = 40")
    (tmp_path / "many.toml").write_text(text.replace('name = "surf"', 'name = "surf-many"'))
    with pytest.raises(DataError, match=r"n_groups = 40 but the train split has only \d+ groups"):
        load_data(tmp_path / "many.toml", "public", folder, cache_dir=tmp_path / "cache")


@surf_codec_warnings
def test_surf_batches_are_the_2023_dicts_with_the_real_ids_ages_and_people(tmp_path):
    from harness.data import make_loader

    surf = load_competition("surf")
    folder = _surf_folder(tmp_path / "surf", zipped=False)  # the reference code reads extracted frames
    (folder / "Age_Gender.txt").write_text("0001 50 F\n" + (folder / "Age_Gender.txt").read_text())  # listed first, no frames
    data = load_data(surf, "public", folder, cache_dir=tmp_path / "cache")
    train, _, _, retain_index, _ = _reference_surf(folder)
    assert data.retain.person_ids.tolist() == [train[i]["id"] for i in retain_index]  # the reference code's person ids
    assert data.retain.ages.tolist() == [train[i]["age"] for i in retain_index]
    assert 0 not in data.retain.person_ids.tolist()  # person 0 is "0001", who has no frames
    batch = next(iter(make_loader(data.retain, surf.batch_size, shuffle=False, batch_format=surf.batch_format)))
    assert tuple(batch) == ("image", "image_id", "age_group", "age", "person_id") and batch["image"].shape[1:] == (3, 32, 32)
    assert batch["image_id"] == list(data.retain.ids[: len(batch["image_id"])])  # <session>/<person>/<frame>.jpg
    assert batch["age"].dtype == batch["person_id"].dtype == batch["age_group"].dtype == torch.int64


def test_unknown_phase_fails_before_reading_data(tmp_path):
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="has no phase 'final'"):
        load_data("cifar10", "final", tmp_path)
